"""The witness's state in a real Postgres: the SQLite store's guarantees, and real processes on one database.

Each test gets a freshly migrated ledger database of the session's server (the fixtures'
isolation), which also shows the witness's schema sharing a database without touching the
ledger's tables. The outage test runs its own embedded Postgres, empty, which it stops.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from tests.helpers.ledger_sealing import fixed_key
from tests.helpers.witness_logs import (
    SampleLog,
    free_witness_port,
    running_witness,
    witness_env,
)

from provledger.errors import ConfigurationError
from provledger.local.postgres import EmbeddedPostgres
from provledger.witness import postgres as witness_postgres
from provledger.witness.postgres import SCHEMA, PostgresWitnessStore
from provledger.witness.protocol import ADD_CHECKPOINT_PATH
from provledger.witness.service import Conflict, Cosigned
from provledger.witness.settings import WitnessDatabase

ORIGIN = "ledger.test/log"
LOG_NAME = "ledger.test/log"


def _cosigned(size: int, root: bytes = b"\x01" * 32, at: int = 1) -> Cosigned:
    return Cosigned(ORIGIN, size, root, f"note {size}\n", at)


@pytest.fixture
def witness_dsn(database_url: str) -> str:
    """A database of its own for this test: a ledger's, so the witness schema is seen to stay apart."""
    return database_url


@pytest.fixture
async def store(witness_dsn: str) -> AsyncIterator[PostgresWitnessStore]:
    opened = await PostgresWitnessStore.open(WitnessDatabase(witness_dsn))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def log() -> SampleLog:
    return SampleLog(f"{LOG_NAME}/shard/0", fixed_key(LOG_NAME, seed=5)).grow(16)


async def test_compare_and_set_from_nothing_and_from_a_size(
    store: PostgresWitnessStore, witness_dsn: str
) -> None:
    assert await store.latest(ORIGIN) is None
    assert await store.advance(None, _cosigned(3))
    assert not await store.advance(None, _cosigned(4))  # someone else created it first
    assert await store.latest(ORIGIN) == _cosigned(3)
    assert not await store.advance(_cosigned(3, root=b"\x02" * 32), _cosigned(5))  # another root
    assert not await store.advance(_cosigned(2), _cosigned(5))  # another size
    assert await store.advance(_cosigned(3), _cosigned(5, at=2))
    assert await store.latest(ORIGIN) == _cosigned(5, at=2)
    again = await PostgresWitnessStore.open(WitnessDatabase(witness_dsn))  # the schema exists: reused
    try:
        assert await again.latest(ORIGIN) == _cosigned(5, at=2)
    finally:
        await again.close()


async def test_the_database_itself_refuses_to_go_back_or_forget(
    store: PostgresWitnessStore, witness_dsn: str
) -> None:
    assert await store.advance(None, _cosigned(5))
    await store.record_conflict(Conflict(ORIGIN, 1, "r", 5, (b"\x03" * 32,), "n\n", None))
    conn = await asyncpg.connect(witness_dsn)
    try:
        for sql in (
            "UPDATE {s}.checkpoints SET size = 4",
            "UPDATE {s}.checkpoints SET root = decode(repeat('00', 32), 'hex')",
            "UPDATE {s}.checkpoints SET origin = 'other'",
            "DELETE FROM {s}.checkpoints",
            "TRUNCATE {s}.checkpoints",
            "UPDATE {s}.conflicts SET reason = 'nothing happened'",
            "DELETE FROM {s}.conflicts",
            "TRUNCATE {s}.conflicts",
        ):
            with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="never"):
                await conn.execute(sql.format(s=SCHEMA))
        await conn.execute(f"UPDATE {SCHEMA}.checkpoints SET size = 6")  # forward is fine
    finally:
        await conn.close()


async def test_conflicts_are_kept_up_to_a_bound_per_log(
    store: PostgresWitnessStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(witness_postgres, "MAX_CONFLICTS_PER_LOG", 2)
    conflicts = [
        Conflict(ORIGIN, 10 + i, f"reason {i}", 5, (bytes([i]) * 32, b"\xff" * 32), f"new {i}\n", "old\n")
        for i in range(3)
    ]
    for conflict in conflicts:
        await store.record_conflict(conflict)
    await store.record_conflict(Conflict("other", 1, "r", 0, (), "n\n", None))
    assert await store.conflicts(ORIGIN) == conflicts[:2]
    assert await store.conflicts("other") == [Conflict("other", 1, "r", 0, (), "n\n", None)]


async def test_two_stores_racing_on_one_database_advance_once(witness_dsn: str) -> None:
    """Two pools are two processes to Postgres: only one compare-and-set from a head wins."""
    a = await PostgresWitnessStore.open(WitnessDatabase(witness_dsn))
    b = await PostgresWitnessStore.open(WitnessDatabase(witness_dsn))
    try:
        creations = [store.advance(None, _cosigned(4, at=9)) for store in (a, b) for _ in range(4)]
        created = await asyncio.gather(*creations)
        assert sorted(created) == [False] * 7 + [True]
        moves = [
            store.advance(_cosigned(4, at=9), _cosigned(4 + n, root=bytes([n]) * 32, at=10))
            for n in range(1, 9)
            for store in (a, b)
        ]
        assert sorted(await asyncio.gather(*moves)) == [False] * 15 + [True]
        assert (await a.latest(ORIGIN)) == (await b.latest(ORIGIN))
    finally:
        await a.close()
        await b.close()


async def test_its_schema_shares_the_ledger_database_and_is_created_once(database_url: str) -> None:
    async def ledger_tables() -> list[str]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema <> $1 AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY 1",
                SCHEMA,
            )
            return [row[0] for row in rows]
        finally:
            await conn.close()

    before = await ledger_tables()
    opening = [PostgresWitnessStore.open(WitnessDatabase(database_url)) for _ in range(3)]
    stores = await asyncio.gather(*opening)
    for opened in stores:
        await opened.close()
    assert await ledger_tables() == before
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval(f"SELECT array_agg(version) FROM {SCHEMA}.schema_version") == [1]
        await conn.execute(f"INSERT INTO {SCHEMA}.schema_version VALUES (99)")
    finally:
        await conn.close()
    with pytest.raises(ConfigurationError, match="version 99, newer"):
        await PostgresWitnessStore.open(WitnessDatabase(database_url))


def _pg_env(folder: Path, log: SampleLog, dsn: str) -> dict[str, str]:
    """A witness of ``log`` keeping its state in ``dsn``; its state-file path must stay unused."""
    return witness_env(folder, [log], free_witness_port()) | {"PROVLEDGER_WITNESS_DATABASE_URL": dsn}


def test_sigkill_and_restart_keeps_what_it_cosigned(tmp_path: Path, log: SampleLog, witness_dsn: str) -> None:
    env = _pg_env(tmp_path, log, witness_dsn)
    with running_witness(env, tmp_path / "first.log") as witness:
        assert witness.add(log.request(0, 11)).status_code == 200
        witness.kill()
    with running_witness(env, tmp_path / "second.log") as witness:
        answer = witness.add(log.request(0, 16))
        assert (answer.status_code, answer.text) == (409, "11\n")
        assert witness.add(log.request(11, 16)).status_code == 200
    assert not Path(env["PROVLEDGER_WITNESS_STATE_FILE"]).exists()


async def test_an_inconsistent_checkpoint_is_refused_and_its_evidence_kept(
    tmp_path: Path, log: SampleLog, witness_dsn: str
) -> None:
    with running_witness(_pg_env(tmp_path, log, witness_dsn), tmp_path / "w.log") as witness:
        assert witness.add(log.request(0, 8)).status_code == 200
        fork = log.fork(5).grow(11, tag=b"fork")
        assert witness.add(fork.request(8, 16)).status_code == 422
        assert witness.add(log.request(0, 5)).status_code == 409  # a replayed older checkpoint
        assert witness.add(log.request(8, 16)).status_code == 200
    store = await PostgresWitnessStore.open(WitnessDatabase(witness_dsn))
    try:
        (conflict,) = await store.conflicts(log.origin)
        latest = await store.latest(log.origin)
    finally:
        await store.close()
    assert (conflict.old_size, conflict.submitted_note) == (8, fork.checkpoint(16))
    assert list(conflict.proof) == fork.proof(8, 16)
    assert conflict.latest_note is not None
    assert conflict.latest_note.startswith(log.checkpoint(8).split("\n\n")[0])
    assert latest is not None
    assert latest.size == 16


async def test_two_witness_processes_on_one_database_cosign_only_one(
    tmp_path: Path, log: SampleLog, witness_dsn: str
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env_a, env_b = _pg_env(tmp_path / "a", log, witness_dsn), _pg_env(tmp_path / "b", log, witness_dsn)
    with running_witness(env_a, tmp_path / "a.log") as a, running_witness(env_b, tmp_path / "b.log") as b:
        assert a.add(log.request(0, 4)).status_code == 200
        # From size 4: the log's checkpoints and three forks', each at 6, 11 and 16, to both at once.
        branches = [log, *(log.fork(4).grow(12, tag=b"fork %d" % n) for n in range(3))]
        bodies = [branch.request(4, size) for branch in branches for size in (6, 11, 16)]
        async with httpx.AsyncClient(timeout=10) as client:
            sent = [client.post(w.url + ADD_CHECKPOINT_PATH, content=body) for w in (a, b) for body in bodies]
            answers = await asyncio.gather(*sent)
        assert sorted(answer.status_code for answer in answers) == [200] + [409] * 23
        assert a.add(log.request(0)).text == b.add(log.request(0)).text


def test_a_stopped_postgres_is_503_with_the_reason_and_the_witness_recovers(
    tmp_path: Path, log: SampleLog
) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg", tmp_path / "pg.log", durable=False)
    postgres.start()
    try:
        env = _pg_env(tmp_path, log, postgres.database_url)
        with running_witness(env, tmp_path / "w.log") as witness:
            assert witness.add(log.request(0, 4)).status_code == 200
            postgres.stop()
            started = time.monotonic()
            for _ in range(2):  # a pooled connection, then a new one
                answer = witness.add(log.request(4, 8))
                assert answer.status_code == 503, answer.text
                assert "witness database" in answer.text
                assert "PROVLEDGER_WITNESS_DATABASE_URL" in answer.text
            ready = httpx.get(witness.url + "/readyz", timeout=10)
            assert ready.status_code == 503
            assert "witness database" in ready.text
            assert time.monotonic() - started < 20
            postgres.start()  # the same port: the witness's pool reconnects
            answer = witness.add(log.request(4, 8))
            assert answer.status_code == 200, answer.text
    finally:
        postgres.stop()


def test_the_command_stops_when_its_postgres_is_away(tmp_path: Path, log: SampleLog) -> None:
    env = _pg_env(tmp_path, log, f"postgresql://postgres@127.0.0.1:{free_witness_port()}/postgres")
    done = subprocess.run(
        [sys.executable, "-m", "provledger", "witness"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr  # EXIT_UNAVAILABLE
    assert "cannot connect to the witness database" in done.stderr
    assert "PROVLEDGER_WITNESS_DATABASE_URL" in done.stderr
