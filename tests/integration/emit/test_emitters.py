"""Both emitters against the real broker: every event exactly once, in order per run, nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers.emit_consume import consume_events

from provledger.config import KafkaSettings
from provledger.emit import Emitter, EmitterOptions, SyncEmitter, artifact
from provledger.errors import Pushback, ServiceUnavailable
from provledger.events import Event, EventType, Job, Run
from provledger.local import LocalServers

#: A buffer far smaller than the burst, so emitting MUST wait for the broker many times over.
SMALL = EmitterOptions(max_batch_events=50, max_buffered_events=200, linger_s=0.01, max_block_s=30)
RUNS = 7
BURST = 6000


def _burst(count: int = BURST, runs: int = RUNS) -> list[Event]:
    run_ids = [Run(str(uuid.uuid4())) for _ in range(runs)]
    job = Job("tests", "burst")
    return [
        Event.new(
            EventType.RUNNING,
            job=job,
            run=run_ids[i % runs],
            producer="https://example.com/burst",
            attributes={"seq": str(i)},
        )
        for i in range(count)
    ]


async def _received(settings: KafkaSettings, expected: int) -> list[Event]:
    return await consume_events(settings.require_kafka_bootstrap(), settings.topic_events, expected)


def _assert_exactly_once_in_order(sent: list[Event], received: list[Event]) -> None:
    assert len(received) == len(sent)
    assert {e.event_id for e in received} == {e.event_id for e in sent}
    for run in {e.run for e in sent}:
        assert [e for e in received if e.run == run] == [e for e in sent if e.run == run]


async def test_emitter_delivers_a_burst_larger_than_its_buffer(kafka_settings: KafkaSettings) -> None:
    events = _burst()
    async with Emitter(kafka_settings, SMALL) as emitter:
        for event in events:
            await emitter.emit(event)
            assert emitter.metrics.queued <= SMALL.max_buffered_events
    metrics = emitter.metrics
    assert (metrics.sent, metrics.failed, metrics.queued) == (BURST, 0, 0)
    assert metrics.records_sent >= BURST // SMALL.max_batch_events
    received = await consume_events(
        kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, BURST
    )
    _assert_exactly_once_in_order(events, received)


async def test_sync_emitter_from_several_threads_keeps_each_runs_order(kafka_settings: KafkaSettings) -> None:
    per_thread = [_burst(BURST // 3, runs=3) for _ in range(3)]  # each thread its own runs
    with SyncEmitter(kafka_settings, SMALL) as emitter:

        def emit_all(events: list[Event]) -> None:
            for event in events:
                emitter.emit(event)

        threads = [threading.Thread(target=emit_all, args=(events,)) for events in per_thread]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert (emitter.metrics.sent, emitter.metrics.queued) == (BURST, 0)
    received = await consume_events(
        kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, BURST
    )
    _assert_exactly_once_in_order([e for events in per_thread for e in events], received)


async def test_flush_returns_only_once_everything_is_on_the_broker(kafka_settings: KafkaSettings) -> None:
    # A long linger: without flush these events would sit in open batches for a minute.
    lingering = EmitterOptions(linger_s=60.0)
    events = _burst(500)
    async with Emitter(kafka_settings, lingering) as emitter:
        for event in events:
            await emitter.emit(event)
        assert emitter.metrics.sent == 0
        await emitter.flush()
        assert (emitter.metrics.sent, emitter.metrics.queued) == (500, 0)
        received = await consume_events(
            kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, 500
        )
        _assert_exactly_once_in_order(events, received)
        await emitter.close()
        with pytest.raises(RuntimeError, match="closed"):
            await emitter.emit(events[0])


async def test_sync_close_loses_nothing_and_helpers_reach_the_broker(
    kafka_settings: KafkaSettings,
) -> None:
    emitter = SyncEmitter(kafka_settings, EmitterOptions(linger_s=60.0))
    emitter.start()
    with emitter.run(job="train", namespace="tests") as run:
        run.used(artifact(b"rows", kind="dataset", name="rows"))
        run.produced(artifact(b"weights", kind="model", name="model"))
    logger = emitter.inference_logger(artifact(b"weights", kind="model", name="model"), service="serve")
    logger.log("r1", input=b"x", output=b"y")
    emitter.close()
    emitter.close()  # twice is harmless
    received = await _received(kafka_settings, 3)
    assert sorted(e.event_type for e in received) == sorted(
        [EventType.START, EventType.COMPLETE, EventType.INFERENCE]
    )
    with pytest.raises(RuntimeError):
        emitter.emit(received[0])


def test_an_unreachable_broker_is_reported_not_hung(kafka_settings: KafkaSettings) -> None:
    nowhere = kafka_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    with pytest.raises(ServiceUnavailable, match="did not answer"):
        SyncEmitter(nowhere, EmitterOptions(connect_timeout_s=2.0)).start()


def _wait_for_state(pid: int, state: str) -> None:
    """Wait until /proc says the process is in ``state`` (``T``: stopped by a signal)."""
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != state:
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not reach state {state} within 10 s")
        time.sleep(0.01)


@contextlib.contextmanager
def _paused(servers: LocalServers) -> Iterator[None]:
    """The session's broker stopped (SIGSTOP) for the block: connections stay open, nothing answers."""
    if servers.kafka is None or servers.kafka.process is None:
        pytest.skip("the broker is not one this session started, so it cannot be paused")
    process = servers.kafka.process
    process.send_signal(signal.SIGSTOP)
    try:
        _wait_for_state(process.pid, "T")  # delivery is asynchronous: until then it may still answer
        yield
    finally:
        process.send_signal(signal.SIGCONT)


PUSHBACK = EmitterOptions(max_batch_events=10, max_buffered_events=20, linger_s=0.0, max_block_s=0.5)


async def test_a_paused_broker_pushes_back_then_everything_arrives(
    servers: LocalServers, kafka_settings: KafkaSettings
) -> None:
    events = _burst(60, runs=2)
    accepted = 1

    async def emit_until_pushed_back(emitter: Emitter) -> None:
        nonlocal accepted
        for event in events[1:]:
            await emitter.emit(event)
            accepted += 1
        raise AssertionError(f"all {accepted} events accepted while paused: {emitter.metrics}")

    async with Emitter(kafka_settings, PUSHBACK) as emitter:
        await emitter.emit(events[0])
        await emitter.flush()  # connected and topic created before the pause
        with _paused(servers), pytest.raises(Pushback):
            await emit_until_pushed_back(emitter)
        assert accepted == PUSHBACK.max_buffered_events + 1, emitter.metrics
        for event in events[accepted:]:
            await emitter.emit(event)
    _assert_exactly_once_in_order(events, await _received(kafka_settings, 60))


async def test_a_paused_broker_blocks_then_pushes_back_a_sync_emitter(
    servers: LocalServers, kafka_settings: KafkaSettings
) -> None:
    events = _burst(60, runs=2)
    accepted = 1

    def emit_until_pushed_back(emitter: SyncEmitter) -> None:
        nonlocal accepted
        for event in events[1:]:
            emitter.emit(event)
            accepted += 1
        raise AssertionError(f"all {accepted} events accepted while paused: {emitter.metrics}")

    with SyncEmitter(kafka_settings, PUSHBACK) as emitter:
        emitter.emit(events[0])
        emitter.flush()
        with _paused(servers), pytest.raises(Pushback):
            emit_until_pushed_back(emitter)
        assert accepted == PUSHBACK.max_buffered_events + 1
        for event in events[accepted:]:
            emitter.emit(event)
    _assert_exactly_once_in_order(events, await _received(kafka_settings, 60))


async def test_records_that_time_out_while_the_broker_is_paused_are_sent_again_in_order(
    servers: LocalServers, kafka_settings: KafkaSettings
) -> None:
    # Requests time out after 1 s, so a 3 s pause fails the records in flight: the SDK's own
    # retries (not aiokafka's) must deliver them, and keep each run's order.
    options = EmitterOptions(
        max_batch_events=20, linger_s=0.0, request_timeout_s=1.0, retry_backoff_s=0.2, delivery_timeout_s=60
    )
    events = _burst(400, runs=4)
    async with Emitter(kafka_settings, options) as emitter:
        await emitter.emit(events[0])
        await emitter.flush()
        with _paused(servers):
            for event in events[1:]:
                await emitter.emit(event)
            await asyncio.sleep(3)
        await emitter.flush()
        assert emitter.metrics.retries > 0
        assert (emitter.metrics.sent, emitter.metrics.failed) == (400, 0)
    received = await _received(kafka_settings, 400)
    # At least once on the wire (a retried record may have reached the log before its timeout);
    # the ledger keeps one copy per event_id. First copies arrive in each run's order.
    first_copies = list({e.event_id: e for e in received}.values())  # a dict keeps first positions
    _assert_exactly_once_in_order(events, first_copies)
