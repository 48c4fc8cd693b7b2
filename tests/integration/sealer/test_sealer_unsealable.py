"""Records Postgres refuses, and dead letters too large to produce: the shard goes on either way.

The refusal is Postgres's own: a CHECK constraint added to this test's database refuses events
of job ``poison`` with SQLSTATE 23514, as it would refuse any value the edge failed to screen.
No validation upstream can catch it, so the sealer is the last line, as in production.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

from tests.helpers.sealer_harness import (
    SealerWorker,
    check_ledger,
    direct_sealer,
    events_of_run,
    fetchval,
    produce,
    produce_batches,
    read_topic,
    sent_events,
    source_records,
    wait_sealed,
    with_fields,
)

from provledger.config import KafkaSettings
from provledger.events import encode_record
from provledger.ledger.keys import SigningKey

KEY = SigningKey.generate("test.sealer")


def _headers(letter: object) -> dict[str, str]:
    return {k: v.decode() for k, v in letter.headers}  # type: ignore[attr-defined]


def _metric(text: str, name: str) -> float:
    """The sum of a metric's samples in the Prometheus text exposition."""
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.M))


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
    assert _metric(metrics, "provledger_sealer_dead_letters_produced_total") == 1
    assert _metric(metrics, "provledger_sealer_unexpected_failures_total") == 0


async def test_a_conflicting_duplicate_too_large_for_the_dead_letter_producer_goes_as_a_stub(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    bootstrap, topic = kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events
    request_bytes = 16 << 10
    async with direct_sealer(
        database_url, kafka_settings, KEY, max_record_bytes=64 << 10, dead_letter_request_bytes=request_bytes
    ) as sealer:
        first = events_of_run(1)
        await produce(bootstrap, topic, [encode_record(first)], partition=0)
        await sealer.handle(await source_records(bootstrap, topic, 1))
        # A large batch whose one event reuses a sealed id with another body: its record is the dead letter.
        large = [with_fields(first[0], producer="https://other.example/"), *events_of_run(80)]
        value = encode_record(large)
        assert request_bytes < len(value) <= 64 << 10
        neighbour = events_of_run(2)
        await produce(bootstrap, topic, [value, encode_record(neighbour)], partition=0)
        await sealer.handle((await source_records(bootstrap, topic, 3))[1:])
        stubs = sealer.metrics.dead_letter_stubs.labels("conflicting_duplicate")._value.get()
    await check_ledger(database_url, sent_events([*first, *large[1:], *neighbour]))
    letters = await read_topic(bootstrap, kafka_settings.topic_dead_letter, 1)
    assert len(letters) == 1
    headers = _headers(letters[0])
    assert headers["provledger-stub"] == "true"
    assert "MessageSizeTooLargeError" in headers["provledger-stub-cause"]
    assert headers["provledger-reason"] == "conflicting_duplicate"
    assert headers["provledger-event-id"] == first[0].event_id
    assert json.loads(letters[0].value) == {  # type: ignore[attr-defined]
        "stub": True,
        "reason": "conflicting_duplicate",
        "source_topic": topic,
        "source_partition": 0,
        "source_offset": 1,
        "value_sha256": hashlib.sha256(value).hexdigest(),
        "value_length": len(value),
    }
    assert stubs == 1
    assert await fetchval(database_url, "SELECT next_offset FROM consumer_offsets") == 3
