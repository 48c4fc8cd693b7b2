"""Faults caused for real while events stream in; after each, every event sealed once, chains valid.

Each test runs real ``provledger sealer`` processes; the Postgres and broker faults use servers
of their own, so the session's servers stay untouched.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from tests.helpers.sealer_harness import (
    SealerWorker,
    Sent,
    check_ledger,
    direct_sealer,
    events_of_run,
    generate_key_file,
    produce_batches,
    sealed_count,
    source_records,
    stream_batches,
    wait_sealed,
)

from provledger.config import KafkaSettings, load
from provledger.ledger.keys import SigningKey
from provledger.local.kafka import EmbeddedKafka
from provledger.local.postgres import EmbeddedPostgres
from provledger.store.migrate import migrate_database

RECORDS, EVENTS_PER_RECORD, RECORDS_PER_S = 150, 20, 25.0


class Workers:
    """Sealer processes of one consumer group, all stopped at the end of the test."""

    def __init__(self, folder: Path, database_url: str, kafka: KafkaSettings) -> None:
        self.folder, self.database_url, self.kafka = folder, database_url, kafka
        self.key_file = generate_key_file(folder)
        self.group = f"g{uuid.uuid4().hex[:8]}"
        self.started: list[SealerWorker] = []

    async def start(self) -> SealerWorker:
        worker = SealerWorker(
            database_url=self.database_url,
            kafka=self.kafka,
            key_file=self.key_file,
            log_path=self.folder / f"sealer-{len(self.started)}.log",
            group=self.group,
        ).start()
        self.started.append(worker)
        await worker.wait_ready()
        return worker

    def stop(self) -> None:
        for worker in self.started:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(worker.log() for worker in self.started)


@pytest.fixture
async def workers(tmp_path: Path, database_url: str, kafka_settings: KafkaSettings) -> AsyncIterator[Workers]:
    started = Workers(tmp_path, database_url, kafka_settings)
    try:
        yield started
    finally:
        started.stop()


def _stream(kafka: KafkaSettings, records: int = RECORDS) -> asyncio.Task[Sent]:
    return asyncio.create_task(
        stream_batches(
            kafka.require_kafka_bootstrap(),
            kafka.topic_events,
            records=records,
            events_per_record=EVENTS_PER_RECORD,
            per_second=RECORDS_PER_S,
        )
    )


async def _finish(stream: asyncio.Task[Sent], database_url: str, workers: Workers) -> None:
    """Wait for the stream to end and be sealed, then check the ledger."""
    sent = await stream
    assert await wait_sealed(database_url, len(sent.leaves), 90) == len(sent.leaves), workers.logs()
    await check_ledger(database_url, sent)


@pytest.mark.slow
async def test_kill_9_mid_stream_then_restart(
    workers: Workers, database_url: str, kafka_settings: KafkaSettings
) -> None:
    first = await workers.start()
    stream = _stream(kafka_settings)
    await wait_sealed(database_url, 20 * EVENTS_PER_RECORD)
    first.kill()
    assert not stream.done(), "the stream ended before the kill: nothing was mid-stream"
    killed_at = await sealed_count(database_url)
    await workers.start()
    await _finish(stream, database_url, workers)
    assert killed_at < RECORDS * EVENTS_PER_RECORD


@pytest.mark.slow
async def test_postgres_stopped_and_restarted_mid_stream(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pgdata", tmp_path / "postgres.log", durable=False)
    await asyncio.to_thread(postgres.start)
    workers = Workers(tmp_path, postgres.database_url, kafka_settings)
    try:
        await migrate_database(postgres.database_url)
        await workers.start()
        stream = _stream(kafka_settings)
        await wait_sealed(postgres.database_url, 20 * EVENTS_PER_RECORD)
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(3)  # records keep arriving while the database is down
        assert not stream.done()
        await asyncio.to_thread(postgres.start)
        await _finish(stream, postgres.database_url, workers)
    finally:
        workers.stop()
        postgres.stop()


@pytest.mark.slow
async def test_broker_paused_for_ten_seconds(tmp_path: Path, database_url: str) -> None:
    broker = EmbeddedKafka(tmp_path / "kafka.log")
    await asyncio.to_thread(broker.start)
    assert broker.process is not None
    kafka = load(KafkaSettings, kafka_bootstrap=broker.bootstrap)
    workers = Workers(tmp_path, database_url, kafka)
    try:
        await workers.start()
        stream = _stream(kafka)
        await wait_sealed(database_url, 20 * EVENTS_PER_RECORD)
        broker.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(10)
        broker.process.send_signal(signal.SIGCONT)
        assert not stream.done()
        await _finish(stream, database_url, workers)
    finally:
        broker.process.send_signal(signal.SIGCONT)
        workers.stop()
        broker.stop()


@pytest.mark.slow
async def test_partitions_move_between_two_sealers(
    workers: Workers, database_url: str, kafka_settings: KafkaSettings
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.require_kafka_bootstrap())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(kafka_settings.topic_events, 4, 1)])
    finally:
        await admin.close()
    first = await workers.start()
    stream = _stream(kafka_settings, records=3 * RECORDS)
    await wait_sealed(database_url, 20 * EVENTS_PER_RECORD)
    second = await workers.start()  # the group rebalances: some partitions move to the second
    await asyncio.sleep(2)
    first_sealed = _events_sealed(await first.metrics())
    first.stop()  # and back: every partition moves to the second
    assert not stream.done()
    await _finish(stream, database_url, workers)
    second_sealed = _events_sealed(await second.metrics())
    assert first_sealed > 0
    assert second_sealed > 0


def _events_sealed(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("provledger_sealer_events_sealed_total{")
    )


async def test_a_zombie_sealer_never_forks_a_shard(database_url: str, kafka_settings: KafkaSettings) -> None:
    """Two sealers that both believe they own a partition: the loser reloads and seals nothing twice."""
    bootstrap, topic = kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events
    sent = await produce_batches(bootstrap, topic, [events_of_run(5) for _ in range(20)], partition=0)
    records = await source_records(bootstrap, topic, 20)
    key = SigningKey.generate("test.sealer")
    async with (
        direct_sealer(database_url, kafka_settings, key) as owner,
        direct_sealer(database_url, kafka_settings, key) as zombie,
    ):
        await owner.load([(topic, 0)])
        await zombie.load([(topic, 0)])  # both hold the same head in memory
        await owner.handle(records[:10])
        await zombie.handle(records[:10])  # stale: refused, reloaded, all already sealed
        await zombie.handle(records[10:])
        await owner.handle(records[10:])  # stale in turn: reloads and skips
    assert owner.metrics.stale.labels("0")._value.get() == 1
    assert zombie.metrics.stale.labels("0")._value.get() == 1
    await check_ledger(database_url, sent)
