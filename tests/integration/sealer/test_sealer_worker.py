"""The real ``provledger sealer`` worker against the real broker and Postgres: sealed exactly once."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

from tests.helpers.sealer_harness import (
    SealerWorker,
    check_ledger,
    events_of_run,
    openlineage_run_event,
    produce,
    produce_batches,
    sent_events,
    wait_sealed,
)

from provledger.config import KafkaSettings
from provledger.events import encode_record
from provledger.events.openlineage import from_openlineage


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text exposition, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}(?:\{{{re.escape(wanted)}\}})? (\S+)$" if wanted else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_worker_seals_native_and_openlineage_records_once(
    worker: SealerWorker, database_url: str, kafka_settings: KafkaSettings
) -> None:
    bootstrap = kafka_settings.require_kafka_bootstrap()
    # Records before the worker starts (a backlog) and after (a live stream).
    sent = await produce_batches(
        bootstrap, kafka_settings.topic_events, [events_of_run(50) for _ in range(20)]
    )
    worker.start()
    try:
        await worker.wait_ready()
        sent |= await produce_batches(
            bootstrap, kafka_settings.topic_events, [events_of_run(7) for _ in range(30)]
        )
        lineage = [openlineage_run_event(str(uuid.uuid4()), f"job{i}") for i in range(25)]
        await produce(bootstrap, kafka_settings.topic_openlineage, lineage)
        sent |= sent_events(from_openlineage(value) for value in lineage)
        # A byte-identical repeat of a sealed record is counted and dropped, not sealed again.
        again = events_of_run(3)
        sent |= await produce_batches(bootstrap, kafka_settings.topic_events, [again])
        await produce(bootstrap, kafka_settings.topic_events, [encode_record(again)])
        assert await wait_sealed(database_url, len(sent.leaves)) == len(sent.leaves), worker.log()
        # The repeat may still be in the batch being committed when the count is reached.
        deadline = time.monotonic() + 30
        metrics = await worker.metrics()
        dropped = "provledger_sealer_duplicates_dropped_total"
        while _metric(metrics, dropped) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            metrics = await worker.metrics()
        # Faust's data directory (which the sealer has no use for) is not made where it runs.
        faust_default = Path.cwd() / f"{worker.env['PROVLEDGER_CONSUMER_GROUP']}-data"
        assert not faust_default.exists()
    finally:
        worker.stop()
    await check_ledger(database_url, sent)
    sealed = re.findall(r"^provledger_sealer_events_sealed_total\{shard=\"(\d+)\"\} (\S+)$", metrics, re.M)
    assert sum(float(v) for _, v in sealed) == len(sent.leaves)
    assert _metric(metrics, "provledger_sealer_duplicates_dropped_total") >= 3
    assert _metric(metrics, "provledger_sealer_ready") == 1
    assert _metric(metrics, "provledger_sealer_latency_from_kafka_seconds_count") > 0
    lag = re.findall(r"^provledger_sealer_consumer_lag\{shard=\"\d+\"\} (\S+)$", metrics, re.M)
    assert lag, "no consumer lag reported"
    assert all(float(v) == 0 for v in lag)  # everything produced is sealed
