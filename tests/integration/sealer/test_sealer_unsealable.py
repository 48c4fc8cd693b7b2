"""Records Postgres refuses: dead-lettered as unsealable, and the shard goes on.

The refusal is Postgres's own: a CHECK constraint added to this test's database refuses events
of job ``poison`` with SQLSTATE 23514, as it would refuse any value the edge failed to screen.
No validation upstream can catch it, so the sealer is the last line, as in production.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sealer_harness import (
    SealerWorker,
    check_ledger,
    events_of_run,
    fetchval,
    new_worker,
    produce_batches,
    read_topic,
    sent_events,
    wait_sealed,
)

from provledger.config import KafkaSettings
from provledger.events import encode_record


def _headers(letter: object) -> dict[str, str]:
    return {k: v.decode() for k, v in letter.headers}  # type: ignore[attr-defined]


def _metric(text: str, name: str) -> float:
    """The sum of a metric's samples in the Prometheus text exposition."""
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.M))


@pytest.fixture
def worker(tmp_path: Path, database_url: str, kafka_settings: KafkaSettings) -> SealerWorker:
    return new_worker(tmp_path, database_url, kafka_settings)


async def test_a_record_postgres_refuses_is_dead_lettered_and_the_worker_seals_on(
    worker: SealerWorker, database_url: str, kafka_settings: KafkaSettings
) -> None:
    await fetchval(database_url, "ALTER TABLE events ADD CONSTRAINT test_poison CHECK (job_name <> 'poison')")
    bootstrap, topic = kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events
    run = str(uuid.uuid4())  # one key: every record on one partition, the poison in the middle
    before = [events_of_run(3, run_id=run) for _ in range(4)]
    poison = [*events_of_run(2, run_id=run), *events_of_run(1, run_id=run, job="poison")]
    after = [events_of_run(3, run_id=run) for _ in range(4)]
    await produce_batches(bootstrap, topic, [*before, poison, *after])
    good = sent_events(e for batch in [*before, *after] for e in batch)
    worker.start()
    try:
        await worker.wait_ready()
        assert await wait_sealed(database_url, len(good.leaves)) == len(good.leaves), worker.log()
        letters = await read_topic(bootstrap, kafka_settings.topic_dead_letter, 1)
        assert len(letters) == 1, worker.log()
        headers = _headers(letters[0])
        assert headers["provledger-reason"] == "unsealable"
        assert headers["provledger-source"].endswith("/4")
        assert "CheckViolationError (SQLSTATE 23514)" in headers["provledger-detail"]
        assert letters[0].value == encode_record(poison)  # type: ignore[attr-defined]
        # The worker is still sealing: what comes next is sealed as usual.
        later = events_of_run(2, run_id=run)
        await produce_batches(bootstrap, topic, [later])
        good |= sent_events(later)
        assert await wait_sealed(database_url, len(good.leaves)) == len(good.leaves), worker.log()
        assert worker.process is not None
        assert worker.process.exit_code() is None
        metrics = await worker.metrics()
    finally:
        worker.stop()
    await check_ledger(database_url, good)  # the poison record's two good events went with it
    assert _metric(metrics, "provledger_sealer_unsealable_records_total") == 1
    assert _metric(metrics, "provledger_sealer_narrowing_splits_total") >= 1
    assert _metric(metrics, "provledger_sealer_unexpected_failures_total") == 0
