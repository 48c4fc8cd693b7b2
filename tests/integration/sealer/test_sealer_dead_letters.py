"""Every reason a record is dead-lettered, each beside a good event that must still be sealed."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from tests.helpers.sealer_harness import (
    check_ledger,
    direct_sealer,
    events_of_run,
    fetchval,
    produce,
    read_topic,
    sent_events,
    source_records,
    with_fields,
)

from provledger.config import KafkaSettings
from provledger.events import encode_record
from provledger.events.codec import MAGIC, batch_header
from provledger.ledger.keys import SigningKey
from provledger.sealer.core import Sealer

KEY = SigningKey.generate("test.sealer")
MAX_RECORD_BYTES = 4096


@pytest.fixture
async def sealer(database_url: str, kafka_settings: KafkaSettings) -> AsyncIterator[Sealer]:
    async with direct_sealer(database_url, kafka_settings, KEY, max_record_bytes=MAX_RECORD_BYTES) as sealer:
        yield sealer


async def test_each_reason_is_dead_lettered_and_its_good_neighbour_sealed(
    sealer: Sealer, database_url: str, kafka_settings: KafkaSettings
) -> None:
    bootstrap = kafka_settings.require_kafka_bootstrap()
    topic = kafka_settings.topic_events
    sealed_before = events_of_run(2)
    await produce(bootstrap, topic, [encode_record(sealed_before)], partition=0)
    await sealer.handle(await source_records(bootstrap, topic, 1))

    template = events_of_run(1)[0]
    bad = {
        "not_single_object": b"this is not avro",
        "malformed_avro": batch_header() + b"\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        "unknown_fingerprint": MAGIC + os.urandom(8) + encode_record([template])[10:],
        "bad_event_id": encode_record([with_fields(template, event_id=str(uuid.uuid4()))]),
        "bad_digest": encode_record([with_fields(template, payload_digest="sha256:nothex")]),
        "oversized": encode_record(events_of_run(40)),
        "conflicting_duplicate": encode_record(
            [with_fields(sealed_before[0], producer="https://other.example/")]
        ),
    }
    assert len(bad["oversized"]) > MAX_RECORD_BYTES
    good = [events_of_run(1) for _ in bad]
    values: list[bytes] = []
    for rejected, accepted in zip(bad.values(), good, strict=True):
        values += [rejected, encode_record(accepted)]
    # Inside one record, a repeat of an event with another body is dead-lettered as well.
    twice = events_of_run(1)[0]
    values.append(encode_record([twice, with_fields(twice, producer="https://other.example/")]))
    # A byte-identical repeat is dropped and counted, not dead-lettered.
    values.append(encode_record(sealed_before))
    await produce(bootstrap, topic, values, partition=0)
    await sealer.handle((await source_records(bootstrap, topic, 1 + len(values)))[1:])

    sent = sent_events([*sealed_before, twice, *(e for batch in good for e in batch)])
    await check_ledger(database_url, sent)
    letters = await read_topic(bootstrap, kafka_settings.topic_dead_letter, len(bad) + 1)
    assert len(letters) == len(bad) + 1
    by_reason: dict[str, list[tuple[bytes, dict[str, str]]]] = {}
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}  # type: ignore[attr-defined]
        by_reason.setdefault(headers["provledger-reason"], []).append((letter.value, headers))  # type: ignore[attr-defined]
    assert sorted(by_reason) == sorted(bad)
    for position, (reason, value) in enumerate(bad.items()):
        original, headers = min(by_reason[reason], key=lambda letter: letter[1]["provledger-source"])
        assert original == value, reason
        assert headers["provledger-source"] == f"{topic}/0/{1 + 2 * position}"
        assert headers["provledger-detail"]
    # Inside one record, the conflicting repeat is named by its event id too.
    conflicts = {h["provledger-event-id"] for _, h in by_reason["conflicting_duplicate"]}
    assert conflicts == {sealed_before[0].event_id, twice.event_id}
    assert sealer.metrics.duplicates._value.get() == 2
    for reason in bad:
        assert sealer.metrics.dead_letters.labels(reason)._value.get() == (
            2 if reason == "conflicting_duplicate" else 1
        )
    assert await fetchval(database_url, "SELECT next_offset FROM consumer_offsets") == 1 + len(values)


async def test_malformed_openlineage_json_is_dead_lettered(
    sealer: Sealer, database_url: str, kafka_settings: KafkaSettings
) -> None:
    bootstrap = kafka_settings.require_kafka_bootstrap()
    topic = kafka_settings.topic_openlineage
    await produce(bootstrap, topic, [b"{not json", b'{"eventType": "COMPLETE"}'], partition=0)
    await sealer.handle(await source_records(bootstrap, topic, 2))
    letters = await read_topic(bootstrap, kafka_settings.topic_dead_letter, 2)
    reasons = sorted(dict(letter.headers)["provledger-reason"].decode() for letter in letters)  # type: ignore[attr-defined]
    assert reasons == ["malformed_json", "missing_field"]
    assert await fetchval(database_url, "SELECT count(*) FROM events") == 0
    assert await fetchval(database_url, "SELECT next_offset FROM consumer_offsets") == 2


async def test_one_event_on_two_partitions_of_one_batch_is_sealed_once(
    sealer: Sealer, database_url: str, kafka_settings: KafkaSettings
) -> None:
    # The partitions' blocks are written at once; the second to commit must drop its copy.
    bootstrap = kafka_settings.require_kafka_bootstrap()
    topic = kafka_settings.topic_events
    both = events_of_run(3)
    for partition in (0, 1):
        await produce(bootstrap, topic, [encode_record(both)], partition=partition)
    await sealer.handle(await source_records(bootstrap, topic, 2))
    await check_ledger(database_url, sent_events(both))
    assert sealer.metrics.duplicates._value.get() == 3
    assert await fetchval(database_url, "SELECT count(*) FROM consumer_offsets WHERE next_offset = 1") == 2
