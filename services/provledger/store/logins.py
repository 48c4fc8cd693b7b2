"""One database login per service, each a member of only its group role (issue 19).

Migration 0010 creates the NOLOGIN groups and grants each its job; the logins themselves are
the operator's (they carry passwords, which no migration should hold). This module makes them
the way ``deploy/README.md`` tells an operator to, so ``provledger up`` and the tests run the
same least-privilege setup as production::

    await ensure_logins(superuser_conn, {"sealer": "pw1", "anchorer": "pw2", "api": "pw3"})

It needs a superuser (or a role with CREATEROLE and ADMIN on the groups); passwords are set
anew on every call, so a rotated password file takes effect the next time it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from provledger.store.db import Conn


@dataclass(frozen=True)
class Login:
    """A service's login role and the one group role it is granted."""

    service: str
    role: str
    group: str
    #: Extra role attributes: the migrator needs CREATEROLE for migrations that create roles.
    attributes: str = ""


#: Every group role migrations grant to (0001, 0010); created here too so logins can join them
#: before the first migration ran.
GROUPS = (
    "provledger_owner",
    "provledger_sealer",
    "provledger_anchorer",
    "provledger_reader",
    "provledger_service",
)

LOGINS = {
    login.service: login
    for login in (
        Login("migrator", "provledger_migrator_login", "provledger_owner", "CREATEROLE"),
        Login("sealer", "provledger_sealer_login", "provledger_sealer"),
        Login("anchorer", "provledger_anchorer_login", "provledger_anchorer"),
        Login("api", "provledger_api_login", "provledger_reader"),
    )
}


async def ensure_logins(conn: Conn, passwords: Mapping[str, str]) -> list[Login]:
    """Create (or update the password of) the login of each service named in ``passwords``."""
    unknown = set(passwords) - set(LOGINS)
    if unknown:
        raise ValueError(f"no such service login: {', '.join(sorted(unknown))}")
    for group in GROUPS:
        await _create_role(conn, group, "NOLOGIN")
    # The deprecated union (0010); granted here because a migrator with CREATEROLE but no ADMIN
    # on the groups could not grant it.
    for group in ("provledger_sealer", "provledger_anchorer"):
        await _grant_once(conn, group, "provledger_service")
    made = []
    for service, password in passwords.items():
        login = LOGINS[service]
        await _create_role(conn, login.role, f"LOGIN {login.attributes}")
        # DDL takes no parameters: let the server quote the password as a literal.
        await conn.execute(
            await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", login.role, password
            )
        )
        await _grant_once(conn, login.group, login.role)
        made.append(login)
    return made


async def _grant_once(conn: Conn, group: str, member: str) -> None:
    """``GRANT group TO member`` unless it is a member already (a second grantor would tie roles together)."""
    if not await conn.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", member, group):
        await conn.execute(f"GRANT {group} TO {member}")


async def _create_role(conn: Conn, role: str, attributes: str) -> None:
    """``CREATE ROLE``, tolerating an earlier run or another database having made it (cluster-wide)."""
    with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
        await conn.execute(f"CREATE ROLE {role} {attributes}")
