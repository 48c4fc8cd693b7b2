"""The schema: migrations idempotent and serialised, ledger tables append-only, roles least-privilege."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from provledger.errors import ConfigurationError
from provledger.store.migrate import load_migrations, migrate, migrate_database

LEDGER_TABLES = [
    "shards",
    "signing_keys",
    "blocks",
    "events",
    "merkle_tiles",
    "artifacts",
    "runs",
    "lineage_edges",
    "checkpoints",
    "checkpoint_heads",
    "anchor_receipts",
    "anchorer_keys",
    "checkpoint_cosignatures",
    "shard_checkpoints",
    "skipped_offsets",
    "evm_transactions",
]


async def test_applying_twice_is_a_no_op(database_url: str, conn: asyncpg.Connection) -> None:
    assert await migrate_database(database_url) == []
    versions = await conn.fetch("SELECT version, name FROM provledger_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in versions] == [(m.version, m.name) for m in load_migrations()]


async def test_concurrent_migrators_apply_each_migration_once(admin_database_url: str) -> None:
    admin = await asyncpg.connect(admin_database_url)
    await admin.execute('CREATE DATABASE "concurrent_migrate"')
    try:
        dsn = admin_database_url.rsplit("/", 1)[0] + "/concurrent_migrate"
        results = await asyncio.gather(*(migrate_database(dsn) for _ in range(4)))
        assert sorted(len(applied) for applied in results) == [0, 0, 0, len(load_migrations())]
    finally:
        await admin.execute('DROP DATABASE "concurrent_migrate" WITH (FORCE)')
        await admin.close()


async def test_an_edited_migration_is_refused(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE provledger_migrations SET checksum = '\\x00' WHERE version = 1")
    with pytest.raises(ConfigurationError, match=r"0001_ledger\.sql differs from the one applied"):
        await migrate(conn)


async def _insert_shard(conn: asyncpg.Connection) -> int:
    shard: int = await conn.fetchval(
        "INSERT INTO shards (topic, partition) VALUES ('provledger.events', 0) RETURNING shard"
    )
    return shard


@pytest.mark.parametrize(
    "statement", ["UPDATE shards SET topic = 'forged'", "DELETE FROM shards", "TRUNCATE shards CASCADE"]
)
async def test_triggers_reject_changes_to_sealed_rows(conn: asyncpg.Connection, statement: str) -> None:
    await _insert_shard(conn)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute(statement)
    assert await conn.fetchval("SELECT topic FROM shards") == "provledger.events"


async def test_every_ledger_table_has_both_triggers(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "SELECT event_object_table AS tbl, array_agg(DISTINCT event_manipulation) AS ops "
        "FROM information_schema.triggers GROUP BY event_object_table"
    )
    row_triggers = {r["tbl"]: set(r["ops"]) for r in rows}
    for table in LEDGER_TABLES:
        assert row_triggers.get(table) == {"UPDATE", "DELETE"}, table
    truncate_guarded = {
        r["tbl"]
        for r in await conn.fetch(
            "SELECT c.relname AS tbl FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE '%\\_no\\_truncate'"
        )
    }
    assert truncate_guarded == set(LEDGER_TABLES)


async def test_service_role_may_insert_and_read_but_never_update(conn: asyncpg.Connection) -> None:
    """The deprecated provledger_service keeps the sealer's and anchorer's grants, nothing more (0010)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE provledger_service")
        shard = await _insert_shard(conn)
        assert await conn.fetchval("SELECT count(*) FROM shards") == 1
        assert await conn.fetchval("SELECT provledger_advance_offset($1, 0, 10, 'dead-lettered')", shard)
    denied = "permission denied for table consumer_offsets"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=denied):
        await _as_role(conn, "provledger_service", "UPDATE consumer_offsets SET next_offset = 20")
    for table in LEDGER_TABLES:
        # WHERE false touches no row, so no trigger fires: only the missing grant can refuse it.
        column = await _any_column(conn, table)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"permission denied for table {table}"):
            await _as_role(conn, "provledger_service", f"UPDATE {table} SET {column} = NULL WHERE false")


async def test_reader_role_may_only_read(conn: asyncpg.Connection) -> None:
    await _insert_shard(conn)
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE provledger_reader")
        assert await conn.fetchval("SELECT count(*) FROM shards") == 1
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for table shards"):
        await _as_role(conn, "provledger_reader", "INSERT INTO shards (topic, partition) VALUES ('x', 1)")


async def _as_role(conn: asyncpg.Connection, role: str, statement: str) -> None:
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {role}")
        await conn.execute(statement)


async def _any_column(conn: asyncpg.Connection, table: str) -> str:
    column: str = await conn.fetchval(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND is_identity = 'NO' "
        "ORDER BY ordinal_position LIMIT 1",
        table,
    )
    return column
