"""Apply the ordered plain-SQL migrations shipped in ``provledger/store/migrations``.

Each file ``NNNN_name.sql`` runs once, in its own transaction, and is recorded with its
SHA-256 in ``provledger_migrations``. A session-level advisory lock serialises concurrent
migrators (two pods starting at once); running again is a no-op; a recorded migration whose
file has since changed is refused, because a changed schema file would silently fork databases.

Migration 0010 gives every schema object to the NOLOGIN role ``provledger_owner``; each later
migration runs after ``SET LOCAL ROLE provledger_owner``, so what it creates belongs to the
owner role too, never to the login that ran ``provledger migrate``. That login is a superuser
(the embedded server of ``provledger up`` and the tests) or a dedicated migrator login that is
a member of ``provledger_owner``; any other login is refused before anything runs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from provledger.errors import ConfigurationError
from provledger.store.db import Conn, connect

#: Arbitrary constant naming "provledger schema migration" among advisory locks.
MIGRATION_LOCK_KEY = 0x70726F766C6467  # "provldg"
#: The NOLOGIN role that owns every schema object (migration 0010 creates it).
OWNER_ROLE = "provledger_owner"
#: Migrations after this version run as :data:`OWNER_ROLE`; earlier ones as the migrating login.
OWNER_ROLE_FROM_VERSION = 10
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> bytes:
        return hashlib.sha256(self.sql.encode()).digest()


def load_migrations() -> list[Migration]:
    """The packaged migrations in version order; versions must run 1, 2, 3... with no gap."""
    found = []
    for entry in resources.files("provledger.store").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ConfigurationError(
                f"migration versions must be contiguous: expected {expected:04d}, "
                f"found {migration.version:04d}_{migration.name}.sql"
            )
    return found


async def migrate(conn: Conn) -> list[Migration]:
    """Apply every pending migration on ``conn``; return the ones applied now."""
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS provledger_migrations (
                   version     integer PRIMARY KEY,
                   name        text NOT NULL,
                   checksum    bytea NOT NULL,
                   applied_at  timestamptz NOT NULL DEFAULT now())"""
        )
        recorded = {row["version"]: row for row in await conn.fetch("SELECT * FROM provledger_migrations")}
        for migration in load_migrations():
            row = recorded.get(migration.version)
            if row is not None:
                if bytes(row["checksum"]) != migration.checksum:
                    raise ConfigurationError(
                        f"migration {migration.version:04d}_{migration.name}.sql differs from the one "
                        f"applied on {row['applied_at']:%Y-%m-%d}: applied migrations must never be edited; "
                        "restore the file and put the change in a new migration."
                    )
                continue
            async with conn.transaction():
                if migration.version > OWNER_ROLE_FROM_VERSION:
                    await _act_as_owner(conn)
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO provledger_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def _act_as_owner(conn: Conn) -> None:
    """``SET LOCAL ROLE`` to the owner role, or a :class:`ConfigurationError` saying how to allow it."""
    allowed = await conn.fetchval(
        "SELECT to_regrole($1) IS NOT NULL AND pg_has_role(current_user, $1, 'MEMBER')", OWNER_ROLE
    )
    if not allowed:
        login = await conn.fetchval("SELECT current_user")
        raise ConfigurationError(
            f"the migrating login {login!r} is not a member of {OWNER_ROLE}, which owns the schema: "
            f"run `provledger migrate` as the migrator login, or GRANT {OWNER_ROLE} TO {login}."
        )
    await conn.execute(f"SET LOCAL ROLE {OWNER_ROLE}")


async def migrate_database(dsn: str) -> list[Migration]:
    """Connect to ``dsn``, migrate, disconnect."""
    conn = await connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
