"""Each local service's own database login, its password in a file of the data directory (issue 19).

``provledger up`` migrates as the server's superuser, then gives the sealer, the anchorer and
the API one login each (:mod:`provledger.store.logins`: a member of only its group role) and
starts each with its own ``PROVLEDGER_DATABASE_URL`` (user name, no password) and
``PROVLEDGER_DATABASE_PASSWORD_FILE``. Passwords are generated once and kept in
``<data dir>/secrets/<service>.password`` (directory 0700, files 0600; the data directory is
git-ignored), so a restarted stack reuses them::

    env = run_blocking(lambda: service_logins(data_dir, superuser_url))["sealer"]

The embedded server checks them: its ``pg_hba.conf`` (:mod:`provledger.local.postgres`) trusts
only the superuser on loopback and asks every other login for its password.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from provledger.errors import ConfigurationError
from provledger.store.db import connect
from provledger.store.logins import LOGINS, ensure_logins

#: Where, under the data directory, the generated database passwords live.
SECRETS_DIR = Path("secrets")
#: The services `up` starts that connect to the database, each with its own login.
SERVICES = ("sealer", "anchorer", "api")


def password_file(data_dir: Path, service: str) -> Path:
    """The service's password file, created (0600, a fresh random password) on first use."""
    directory = data_dir / SECRETS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / f"{service}.password"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    os.chmod(path, 0o600)
    return path


def as_login(database_url: str, role: str) -> str:
    """``database_url`` naming ``role`` as its user and carrying no password."""
    parts = urlsplit(database_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(role, safe='')}@{host}"))


async def service_logins(data_dir: Path, superuser_url: str) -> dict[str, dict[str, str]]:
    """Make each service's login as the superuser; the environment each service connects with."""
    files = {service: password_file(data_dir, service) for service in SERVICES}
    passwords = {service: path.read_text(encoding="utf-8").strip() for service, path in files.items()}
    conn = await connect(superuser_url)
    try:
        await ensure_logins(conn, passwords)
    except asyncpg.InsufficientPrivilegeError as exc:
        raise ConfigurationError(
            "provledger up gives each service its own database login and needs a superuser (or "
            f"CREATEROLE) login to make them; PROVLEDGER_DATABASE_URL's login may not ({exc.sqlstate}). "
            "Point it at a superuser of a development server, or unset it for the embedded one."
        ) from exc
    finally:
        await conn.close()
    return {
        service: {
            "PROVLEDGER_DATABASE_URL": as_login(superuser_url, LOGINS[service].role),
            "PROVLEDGER_DATABASE_PASSWORD_FILE": str(files[service].resolve()),
        }
        for service in SERVICES
    }
