"""`provledger up`'s logins: one per service, its password in a 0600 file the server checks (issue 19)."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg
import pytest
from tests.helpers.sealed_ledger import connected

from provledger.config import DatabaseSettings, load
from provledger.local import LocalServers
from provledger.local.logins import SERVICES, service_logins

GROUP = {"sealer": "provledger_sealer", "anchorer": "provledger_anchorer", "api": "provledger_reader"}


def _private_file(env: dict[str, str]) -> Path:
    """The password file, checked private (0600 in a 0700 directory) and absent from the URL."""
    password_file = Path(env["PROVLEDGER_DATABASE_PASSWORD_FILE"])
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(password_file.parent.stat().st_mode) == 0o700
    assert password_file.read_text(encoding="utf-8").strip() not in env["PROVLEDGER_DATABASE_URL"]
    return password_file


async def test_each_service_connects_as_its_own_login(database_url: str, tmp_path: Path) -> None:
    logins = await service_logins(tmp_path, database_url)
    again = await service_logins(tmp_path, database_url)  # a restarted stack reuses its passwords
    assert again == logins
    for service in SERVICES:
        env = logins[service]
        password_file = _private_file(env)
        settings = load(
            DatabaseSettings,
            database_url=env["PROVLEDGER_DATABASE_URL"],
            database_password_file=password_file,
        )
        async with connected(settings.require_database_url()) as conn:
            assert await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", GROUP[service])
            assert not await conn.fetchval("SELECT pg_has_role(current_user, 'provledger_owner', 'MEMBER')")
            assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")


async def test_the_embedded_server_checks_the_password(
    database_url: str, tmp_path: Path, servers: LocalServers
) -> None:
    if servers.database_source != "embedded":
        pytest.skip(f"the {servers.database_source} server's pg_hba.conf is not provledger's")
    logins = await service_logins(tmp_path, database_url)
    url = logins["sealer"]["PROVLEDGER_DATABASE_URL"]
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(url.replace("@", ":wrong@", 1))
