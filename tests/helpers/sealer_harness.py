"""What the sealer tests share: events to send, a real sealer worker process, and the ledger check.

The check is the point of every sealer test: whatever happened (a kill, an outage, a rebalance),
Postgres must hold each produced event exactly once, and each shard one signed chain whose roots
and stored proofs agree with the leaves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from provledger.config import KafkaSettings
from provledger.events import ArtifactRef, Event, EventType, Job, Run, encode_record
from provledger.events.canonical import event_leaf_hash
from provledger.keyfiles import load_signing_key
from provledger.ledger.block import BlockHeader, block_hash, verify_chain
from provledger.ledger.block import verify_header_signature as verify_signature
from provledger.ledger.checkpoint import open_checkpoint
from provledger.ledger.keys import KeySet, SigningKey
from provledger.ledger.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from provledger.local.process import ManagedProcess, free_port
from provledger.sealer.core import Sealer, SealerOptions, now_micros
from provledger.sealer.deadletter import KafkaDeadLetters, max_request_bytes
from provledger.sealer.intake import SourceRecord
from provledger.sealer.metrics import SealerMetrics
from provledger.sealer.pgstore import PoolShardStore
from provledger.store.db import create_pool
from provledger.store.keys import load_keyset, register_first_key, register_key
from provledger.store.tiles import consistency_proof, inclusion_proof
from tests.helpers.processes import wait_until_ok

PRODUCER = "https://provledger.test/sealer-tests"
DATASET = ArtifactRef("s3://lake", "imagenet", "sha256:" + "ab" * 32, "dataset")
READY_TIMEOUT_S = 60.0


def with_fields(event: Event, **changes: Any) -> Event:
    """A copy of ``event`` with fields changed behind its validation (what a broken producer sends)."""
    broken = dataclasses.replace(event)
    for name, value in changes.items():
        object.__setattr__(broken, name, value)
    return broken


def events_of_run(count: int, *, run_id: str | None = None, job: str = "train") -> list[Event]:
    """``count`` events of one run, each recording a distinct model output."""
    run = Run(run_id or str(uuid.uuid4()))
    return [
        Event.new(
            EventType.COMPLETE if i % 2 else EventType.RUNNING,
            job=Job("vision", job),
            run=run,
            producer=PRODUCER,
            inputs=[DATASET],
            outputs=[ArtifactRef("models", f"m{i}", "sha256:" + os.urandom(32).hex(), "model")],
            attributes={"step": str(i)},
        )
        for i in range(count)
    ]


def openlineage_run_event(run_id: str, name: str) -> bytes:
    """An OpenLineage 2-x RunEvent as its Kafka transport writes it (JSON)."""
    document = {
        "eventType": "COMPLETE",
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "spark", "name": name},
        "inputs": [{"namespace": "s3://lake", "name": "raw"}],
        "outputs": [{"namespace": "s3://lake", "name": f"clean-{name}"}],
    }
    return json.dumps(document).encode()


@dataclass(frozen=True)
class Sent:
    """What a test produced: every event id it expects sealed, with its leaf hash."""

    leaves: dict[uuid.UUID, bytes]

    def __or__(self, other: Sent) -> Sent:
        return Sent(self.leaves | other.leaves)


def sent_events(events: Iterable[Event]) -> Sent:
    return Sent({uuid.UUID(e.event_id): event_leaf_hash(e) for e in events})


async def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes],
    *,
    key: bytes | None = None,
    partition: int | None = None,
) -> None:
    """Send ``values`` in order and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key, partition=partition) for value in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_batches(
    bootstrap: str, topic: str, batches: Sequence[list[Event]], partition: int | None = None
) -> Sent:
    """One ``EventBatch`` record per batch, keyed by run; returns what must be sealed."""
    values = [encode_record(batch) for batch in batches]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, v, key=b[0].record_key().encode(), partition=partition)
            for v, b in zip(values, batches, strict=True)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent_events(itertools.chain.from_iterable(batches))


async def read_topic(bootstrap: str, topic: str, count: int, timeout_s: float = 30.0) -> list[object]:
    """The first ``count`` records of ``topic`` (all partitions), or fewer if the deadline passes."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[object] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < count and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=500)
            for batch in fetched.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def sealed_count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM events")
        return count
    finally:
        await conn.close()


async def wait_sealed(database_url: str, count: int, timeout_s: float = 60.0) -> int:
    """Poll until at least ``count`` events are sealed; returns the last count seen."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        try:
            seen = await sealed_count(database_url)
        except (OSError, asyncpg.PostgresError):
            seen = -1  # the database is down on purpose in some tests
        if seen >= count:
            return seen
        await asyncio.sleep(0.2)
    return seen


async def check_ledger(database_url: str, sent: Sent, *, proofs_per_shard: int = 4, seed: int = 5) -> None:
    """Every sent event sealed exactly once, one valid signed chain per shard, proofs that verify."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT event_id, leaf_hash, canonical FROM events")
        sealed = {row["event_id"]: bytes(row["leaf_hash"]) for row in rows}
        assert len(sealed) == len(rows)
        missing = set(sent.leaves) - set(sealed)
        extra = set(sealed) - set(sent.leaves)
        assert not missing, f"{len(missing)} events never sealed"
        assert not extra, f"{len(extra)} events sealed that were never sent"
        assert sealed == sent.leaves, "a sealed leaf hash differs from the event's own"
        assert all(leaf_hash(bytes(r["canonical"])) == bytes(r["leaf_hash"]) for r in rows)
        keyset = await load_keyset(conn)
        for shard in [r["shard"] for r in await conn.fetch("SELECT DISTINCT shard FROM blocks")]:
            await _check_shard(conn, shard, keyset, rng, proofs_per_shard)
    finally:
        await conn.close()


async def _check_shard(conn: asyncpg.Connection, shard: int, keyset: KeySet, rng: random.Random,
                       proofs: int) -> None:  # fmt: skip
    blocks = await conn.fetch(
        "SELECT b.height, b.block_hash, b.header, b.signature, c.note FROM blocks b "
        "LEFT JOIN shard_checkpoints c USING (shard, height) WHERE shard = $1 ORDER BY height",
        shard,
    )
    headers = [BlockHeader.from_bytes(bytes(b["header"])) for b in blocks]
    assert [h.height for h in headers] == list(range(len(headers))), "heights are not 0, 1, 2, ..."
    assert headers[0].prev_block_hash == bytes(32)  # the genesis link
    verify_chain(headers)
    for row, header in zip(blocks, headers, strict=True):
        assert bytes(row["block_hash"]) == block_hash(header)
        verified_by = verify_signature(header, bytes(row["signature"]), keyset)
        checkpoint = open_checkpoint(row["note"], [verified_by.verifier])
        assert (checkpoint.size, checkpoint.root) == (header.tree_size, header.log_root)
    leaves = [
        bytes(r["leaf_hash"])
        for r in await conn.fetch("SELECT leaf_hash FROM events WHERE shard = $1 ORDER BY leaf_index", shard)
    ]
    assert len(leaves) == headers[-1].tree_size, "leaf count is not the last tree size"
    sizes = [headers[0], headers[-1], *rng.sample(headers, min(3, len(headers)))]
    for header in sizes:
        size = header.tree_size
        assert header.log_root == root(leaves[:size])
        for index in [0, size - 1, *rng.sample(range(size), min(proofs, size))]:
            proof = await inclusion_proof(conn, shard, index, size)
            verify_inclusion(leaves[index], index, size, proof, header.log_root)
    for old, new in itertools.pairwise(sorted(set(sizes), key=lambda h: h.tree_size)):
        proof = await consistency_proof(conn, shard, old.tree_size, new.tree_size)
        verify_consistency(old.tree_size, new.tree_size, old.log_root, new.log_root, proof)


class SealerWorker:
    """``provledger sealer`` as a child process, configured the way an operator would."""

    def __init__(
        self,
        *,
        database_url: str,
        kafka: KafkaSettings,
        key_file: Path,
        log_path: Path,
        group: str,
        **settings: str,
    ) -> None:
        self.metrics_port = free_port()
        self.log_path = log_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")} | {
            "PROVLEDGER_DATABASE_URL": database_url,
            "PROVLEDGER_KAFKA_BOOTSTRAP": kafka.require_kafka_bootstrap(),
            "PROVLEDGER_TOPIC_EVENTS": kafka.topic_events,
            "PROVLEDGER_TOPIC_OPENLINEAGE": kafka.topic_openlineage,
            "PROVLEDGER_TOPIC_DEAD_LETTER": kafka.topic_dead_letter,
            "PROVLEDGER_SIGNING_KEY_FILE": str(key_file),
            "PROVLEDGER_METRICS_PORT": str(self.metrics_port),
            "PROVLEDGER_CONSUMER_GROUP": group,
            "PROVLEDGER_SESSION_TIMEOUT_S": "6",
            "PROVLEDGER_BATCH_LINGER_MS": "100",
        }
        self.env |= {f"PROVLEDGER_{name.upper()}": value for name, value in settings.items()}
        self.process: ManagedProcess | None = None

    def start(self, *, register_key: bool = True) -> SealerWorker:
        """Start the worker; first register its key as the ledger's first one, as ``provledger up`` does.

        A sealer never registers its key itself; ``register_key=False`` starts it as it is.
        """
        if register_key:
            name = self.env.get("PROVLEDGER_SIGNING_KEY_NAME", "provledger")
            key = load_signing_key(Path(self.env["PROVLEDGER_SIGNING_KEY_FILE"]), name)
            database_url = self.env["PROVLEDGER_DATABASE_URL"]
            with concurrent.futures.ThreadPoolExecutor(1) as thread:  # start() may run inside a loop
                thread.submit(asyncio.run, register_sealer_key(database_url, key)).result()
        self.process = ManagedProcess(
            "sealer", [sys.executable, "-m", "provledger", "sealer"], self.log_path, env=self.env
        )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait for /readyz to answer 200; fail with the worker's log if it exits or never does."""
        assert self.process is not None
        await wait_until_ok(self.process, f"{self.url}/readyz", timeout_s=timeout_s, poll_s=0.2)

    async def metrics(self) -> str:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{self.url}/metrics")
            response.raise_for_status()
            return response.text

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def log(self) -> str:
        return self.process.log_tail(80) if self.process else ""


async def register_sealer_key(database_url: str, key: SigningKey) -> None:
    """Register ``key`` as the ledger's first signing key unless it is current already."""
    conn = await asyncpg.connect(database_url)
    try:
        await register_first_key(conn, key.verifier, now_micros())
    finally:
        await conn.close()


def new_worker(folder: Path, database_url: str, kafka: KafkaSettings) -> SealerWorker:
    """A worker of a consumer group of its own, with a fresh key and its log in ``folder``."""
    return SealerWorker(
        database_url=database_url,
        kafka=kafka,
        key_file=generate_key_file(folder),
        log_path=folder / "sealer.log",
        group=f"g{uuid.uuid4().hex[:8]}",
    )


async def fetchval(database_url: str, sql: str) -> object:
    """One value from the database, on a connection of its own (the worker runs elsewhere)."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def generate_key_file(folder: Path) -> Path:
    """A signing key made the way an operator makes one: ``provledger keys generate --out``."""
    path = folder / "sealer.pem"
    subprocess.run(
        [sys.executable, "-m", "provledger", "keys", "generate", "--out", str(path), "--name", "test.sealer"],
        check=True,
        capture_output=True,
    )
    return path


async def stream_batches(
    bootstrap: str, topic: str, *, records: int, events_per_record: int, per_second: float
) -> Sent:
    """Produce ``records`` EventBatch records at about ``per_second``, as a live workload would.

    A send that the broker cannot take right now (paused, restarting) simply waits: the
    producer's own retries and buffering carry it over, as they would in production.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=60_000
    )
    await producer.start()
    sent = Sent({})
    futures = []
    try:
        for _ in range(records):
            batch = events_of_run(events_per_record)
            futures.append(
                await producer.send(topic, encode_record(batch), key=batch[0].record_key().encode())
            )
            sent |= sent_events(batch)
            await asyncio.sleep(1 / per_second)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


@contextlib.asynccontextmanager
async def direct_sealer(
    database_url: str,
    kafka: KafkaSettings,
    key: SigningKey,
    *,
    max_record_bytes: int = 4 << 20,
    dead_letter_request_bytes: int | None = None,
) -> AsyncIterator[Sealer]:
    """A :class:`Sealer` driven by the test itself, with its real pool and dead-letter producer.

    The producer's request size follows ``max_record_bytes`` as the worker's does, unless
    ``dead_letter_request_bytes`` says otherwise (a broker with a lower limit).
    """
    pool = await create_pool(database_url)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.require_kafka_bootstrap(),
        acks="all",
        max_request_size=dead_letter_request_bytes or max_request_bytes(max_record_bytes),
    )
    await producer.start()
    try:
        async with pool.acquire() as conn:
            await register_key(conn, key.verifier, 0)

        async def no_seek(topic: str, partition: int, offset: int) -> None:
            raise AssertionError(f"no seek expected, got {topic}/{partition} -> {offset}")

        metrics = SealerMetrics()
        yield Sealer(
            PoolShardStore(pool),
            key,
            SealerOptions("test.example/ledger", kafka.topic_openlineage, max_record_bytes),
            KafkaDeadLetters(producer, kafka.topic_dead_letter, metrics),
            seek=no_seek,
            metrics=metrics,
        )
    finally:
        await producer.stop()
        await pool.close()


async def source_records(bootstrap: str, topic: str, count: int) -> list[SourceRecord]:
    """The first ``count`` records of ``topic`` as the sealer sees them."""
    records = await read_topic(bootstrap, topic, count)
    assert len(records) == count
    return [
        SourceRecord(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)  # type: ignore[attr-defined]
        for r in records
    ]
