"""Least privilege, proven by trying (issue 19): each service's login does its job and nothing more.

Each test connects as a real login (created here, granted one group role as an operator would)
and tries what that login must never do; Postgres itself must refuse, with the SQLSTATE named.
The migrating superuser seals a small ledger first, so every refusal below has rows to protect.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest
from tests.helpers.anchoring import anchorer
from tests.helpers.sealed_ledger import (
    LOG_ORIGIN,
    accepted_events,
    connected,
    next_sealed_at,
    register,
    seal_blocks,
)

from provledger.config import KafkaSettings
from provledger.errors import StaleShard
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.keys import SigningKey
from provledger.sealer.pgstore import PoolShardStore
from provledger.sealer.shardlog import ShardLog
from provledger.store import migrate as migrate_module
from provledger.store import reads
from provledger.store.blocks import (
    MISSING_FROM_SOURCE,
    UNSEALED_REASON,
    advance_offset,
    load_head,
    write_block,
)
from provledger.store.db import create_pool
from provledger.store.logins import ensure_logins
from provledger.store.migrate import Migration, load_migrations, migrate_database

SEALER_KEY = SigningKey.generate("least-privilege.test/sealer")
INSUFFICIENT_PRIVILEGE = "42501"
CHECK_VIOLATION = "23514"
GROUPS = {"sealer": "provledger_sealer", "anchorer": "provledger_anchorer", "api": "provledger_reader"}


class _RecordingKind:
    """An anchor kind that answers every statement with its digest (no external party)."""

    name = "recording"

    async def publish(self, statement: str) -> dict[str, Any]:
        return {"digest": hashlib.sha256(statement.encode()).hexdigest()}

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        return "recorded"


@pytest.fixture
async def logins(database_url: str) -> AsyncIterator[dict[str, str]]:
    """One LOGIN role per service, each granted only its group; DSNs of the test's database as each."""
    suffix = uuid.uuid4().hex[:10]
    created: dict[str, str] = {}
    async with connected(database_url) as admin:
        await register(admin, SEALER_KEY)
        await seal_blocks(admin, 0, [2, 3], SEALER_KEY)
        try:
            for service, group in GROUPS.items():
                login = f"test_{service}_{suffix}"
                password = secrets.token_urlsafe(16)
                await admin.execute(f"CREATE ROLE {login} LOGIN PASSWORD '{password}' IN ROLE {group}")
                created[service] = _as_login(database_url, login, password)
            yield created
        finally:
            for service in GROUPS:
                await admin.execute(f"DROP ROLE IF EXISTS test_{service}_{suffix}")


def _as_login(dsn: str, login: str, password: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(login)}:{quote(password)}@{host}"))


async def _refused(dsn: str, statement: str, sqlstate: str = INSUFFICIENT_PRIVILEGE) -> None:
    async with connected(dsn) as conn:
        with pytest.raises(asyncpg.PostgresError) as refused:
            await conn.execute(statement)
    assert refused.value.sqlstate == sqlstate, f"{statement}: {refused.value!r}"


FORBIDDEN_TO_ALL = [
    "ALTER TABLE blocks DISABLE TRIGGER blocks_append_only",
    "ALTER TABLE events DISABLE TRIGGER ALL",
    "UPDATE blocks SET signature = signature",
    "DELETE FROM events",
    "TRUNCATE merkle_tiles",
    "UPDATE consumer_offsets SET next_offset = next_offset + 1",
    "INSERT INTO consumer_offsets (shard, next_offset) VALUES (7, 0)",
    "DELETE FROM consumer_offsets",
    "INSERT INTO signing_keys (key_id, name, public_key, verifier_key, valid_from) "
    "VALUES ('\\x00000000', 'forged', '\\x" + "00" * 32 + "', 'forged', now())",
    "INSERT INTO skipped_offsets (shard, first_offset, last_offset, reason) VALUES (0, 100, 200, 'forged')",
    "CREATE TABLE public.stash (x int)",
    "ALTER TABLE blocks OWNER TO CURRENT_USER",
    "DROP TABLE skipped_offsets",
    "SET ROLE provledger_owner",
    "UPDATE evm_transactions SET nonce = nonce + 1",
    "DELETE FROM evm_transactions",
]


@pytest.mark.parametrize("service", list(GROUPS))
@pytest.mark.parametrize("statement", FORBIDDEN_TO_ALL)
async def test_no_service_login_may_rewrite_history(
    logins: dict[str, str], service: str, statement: str
) -> None:
    await _refused(logins[service], statement)


INSERT_BLOCK = (
    "INSERT INTO blocks SELECT 0, 99, '\\x" + "11" * 32 + "', prev_block_hash, header, signature, key_id, "
    "batch_root, tree_size + 1000, log_root, first_offset, last_offset, event_count, min_event_time, "
    "max_event_time, sealed_at FROM blocks WHERE height = 0"
)
INSERT_STATEMENT = (
    "INSERT INTO checkpoints (seq, origin, shard_count, root, note) VALUES (1, 'forged', 0, '\\x"
    + "00" * 32
    + "', 'forged')"
)
INSERT_SHARD = "INSERT INTO shards (topic, partition) VALUES ('forged', 9)"
INSERT_EVM_TRANSACTION = (
    "INSERT INTO evm_transactions (seq, chain_id, submitter, nonce, tx_hash, raw_transaction) "
    "VALUES (1, 1, '\\x" + "00" * 20 + "', 0, '\\x" + "00" * 32 + "', '\\x00')"
)


@pytest.mark.parametrize(
    ("service", "statement"),
    [
        ("api", INSERT_BLOCK),
        ("api", INSERT_STATEMENT),
        ("api", INSERT_SHARD),
        ("sealer", INSERT_STATEMENT),
        ("sealer", "INSERT INTO anchorer_keys (key_id, name, public_key, verifier_key) "
                   "VALUES ('\\x00000000', 'x', '\\x" + "00" * 32 + "', 'x')"),
        ("api", INSERT_EVM_TRANSACTION),
        ("sealer", INSERT_EVM_TRANSACTION),
        ("anchorer", INSERT_BLOCK),
        ("anchorer", INSERT_SHARD),
        ("api", "SELECT provledger_advance_offset(0, 5, 6, 'forged')"),
        ("anchorer", "SELECT provledger_advance_offset(0, 5, 6, 'forged')"),
    ],
)  # fmt: skip
async def test_a_login_may_not_insert_outside_its_job(
    logins: dict[str, str], service: str, statement: str
) -> None:
    await _refused(logins[service], statement)


async def test_the_sealer_login_seals_through_write_block(logins: dict[str, str], database_url: str) -> None:
    async with connected(logins["sealer"]) as conn:
        sealed = await seal_blocks(conn, 0, [4], SEALER_KEY)
        await seal_blocks(conn, 1, [1], SEALER_KEY)  # a new shard: registered and started by the sealer
    assert sealed[0].header.height == 2
    async with connected(database_url) as admin:
        offsets = await admin.fetch("SELECT shard, next_offset FROM consumer_offsets ORDER BY shard")
        assert [r["next_offset"] for r in offsets] == [9, 1]
        assert await admin.fetchval("SELECT count(*) FROM skipped_offsets") == 0


async def test_the_sealer_login_seals_through_its_store(logins: dict[str, str], database_url: str) -> None:
    """The sealer's own adapter (key check under the rotation lock, block, offsets) as its login."""
    pool = await create_pool(logins["sealer"])
    try:
        store = PoolShardStore(pool)
        log = ShardLog(await store.load_head(0), LOG_ORIGIN)
        block = log.seal(accepted_events(3, 5), 5, 7, SEALER_KEY, next_sealed_at())
        await store.write_block(block, 5)
        await store.advance_offset(0, 8, 12)  # a batch that was all dead letters
        await store.advance_offset(0, 12, 14, missing_from_source=True)  # a gap Kafka has
    finally:
        await pool.close()
    async with connected(database_url) as admin:
        assert await admin.fetchval("SELECT next_offset FROM consumer_offsets WHERE shard = 0") == 14
        rows = await admin.fetch("SELECT first_offset, last_offset, reason FROM skipped_offsets ORDER BY 1")
        assert [tuple(row) for row in rows] == [(8, 11, UNSEALED_REASON), (12, 13, MISSING_FROM_SOURCE)]


async def test_offsets_never_move_back(logins: dict[str, str]) -> None:
    async with connected(logins["sealer"]) as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="only move forward"):
            await advance_offset(conn, 0, 5, 3)
        assert (await load_head(conn, 0)).next_offset == 5


async def test_offsets_skip_forward_only_on_record(logins: dict[str, str], database_url: str) -> None:
    async with connected(logins["sealer"]) as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="no block covering them and no reason"):
            await advance_offset(conn, 0, 5, 1_000_000, None)
        with pytest.raises(asyncpg.CheckViolationError):
            await advance_offset(conn, 0, 5, 1_000_000, "")
        assert (await load_head(conn, 0)).next_offset == 5
        await advance_offset(conn, 0, 5, 8, "dead-lettered")
        with pytest.raises(StaleShard, match="no longer at offset 5"):
            await advance_offset(conn, 0, 5, 9, "dead-lettered")
        assert (await load_head(conn, 0)).next_offset == 8
    async with connected(database_url) as admin:
        row = await admin.fetchrow("SELECT shard, first_offset, last_offset, reason FROM skipped_offsets")
        assert row is not None
        assert tuple(row) == (0, 5, 7, "dead-lettered")


async def test_a_block_after_a_gap_records_the_gap(logins: dict[str, str], database_url: str) -> None:
    """Records the source no longer held (a block starting past the offset) are on record, not silent."""
    async with connected(logins["sealer"]) as conn:
        await advance_offset(conn, 0, 5, 5)  # a move of nothing is allowed
        log = ShardLog(await load_head(conn, 0), LOG_ORIGIN)
        block = log.seal(accepted_events(2, 8), 8, 9, SEALER_KEY, next_sealed_at())
        await write_block(conn, block, 5)
        assert (await load_head(conn, 0)).next_offset == 10
    async with connected(database_url) as admin:
        row = await admin.fetchrow("SELECT first_offset, last_offset, reason FROM skipped_offsets")
        assert row is not None
        assert tuple(row) == (5, 7, "missing-from-source")


async def test_the_anchorer_login_anchors(logins: dict[str, str], kafka_settings: KafkaSettings) -> None:
    async with anchorer(logins["anchorer"], kafka_settings, [_RecordingKind()]) as a:
        await a.tick()
    async with connected(logins["api"]) as conn:
        assert await conn.fetchval("SELECT count(*) FROM checkpoints") == 1
        assert await conn.fetchval("SELECT count(*) FROM anchor_receipts") == 1


async def test_the_api_login_reads(logins: dict[str, str]) -> None:
    async with connected(logins["api"]) as conn:
        assert [s["shard"] for s in await reads.shards(conn, None, 10)] == [0]
        assert [b["height"] for b in await reads.blocks(conn, 0, None, 10)] == [0, 1]
        assert (await load_head(conn, 0)).next_height == 2


async def test_public_may_not_create_in_the_schema(database_url: str) -> None:
    async with connected(database_url) as admin:
        assert not await admin.fetchval("SELECT has_schema_privilege('public', 'public', 'CREATE')")
        owners = await admin.fetch(
            "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace"
        )
        assert [r["owner"] for r in owners] == ["provledger_owner"]
        assert await admin.fetchval(
            "SELECT prosecdef AND proconfig::text LIKE '%search_path=%' FROM pg_proc "
            "WHERE proname = 'provledger_advance_offset'"
        )


@pytest.fixture
async def migrator(database_url: str) -> AsyncIterator[str]:
    """A dedicated migration login: no superuser, a member of provledger_owner, as deploy/ makes it."""
    login = f"test_migrator_{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    async with connected(database_url) as admin:
        await admin.execute(f"CREATE ROLE {login} LOGIN PASSWORD '{password}' IN ROLE provledger_owner")
        try:
            yield _as_login(database_url, login, password)
        finally:
            await admin.execute(f"DROP ROLE {login}")


def _with_probe_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration after 0010, as a future schema change would be."""
    shipped = load_migrations()
    probe = Migration(len(shipped) + 1, "probe", "CREATE TABLE probe (x integer)")
    monkeypatch.setattr(migrate_module, "load_migrations", lambda: [*shipped, probe])


async def test_later_migrations_run_as_the_owner_role(
    migrator: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_probe_migration(monkeypatch)
    applied = await migrate_database(migrator)
    assert [m.name for m in applied] == ["probe"]
    async with connected(database_url) as admin:
        owner = await admin.fetchval("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'probe'")
        assert owner == "provledger_owner"
        assert await admin.fetchval("SELECT count(*) FROM provledger_migrations WHERE name = 'probe'") == 1


async def test_a_service_login_may_not_migrate(
    logins: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_probe_migration(monkeypatch)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await migrate_database(logins["sealer"])


async def test_a_dedicated_migrator_builds_a_fresh_database(admin_database_url: str) -> None:
    """The migrator login (CREATEROLE, in provledger_owner) owns the database."""
    database = f"fresh_{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    async with connected(admin_database_url) as admin:
        (migrator_login,) = await ensure_logins(admin, {"migrator": password})
        await admin.execute(f'CREATE DATABASE "{database}" OWNER {migrator_login.role}')
        try:
            dsn = _as_login(
                admin_database_url.rsplit("/", 1)[0] + f"/{database}", migrator_login.role, password
            )
            assert len(await migrate_database(dsn)) == len(load_migrations())
            async with connected(dsn) as conn:
                owners = await conn.fetch(
                    "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class "
                    "WHERE relnamespace = 'public'::regnamespace"
                )
                assert [r["owner"] for r in owners] == ["provledger_owner"]
                assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
