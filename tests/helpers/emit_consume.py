"""Read back what the emitter tests wrote, including anything written twice."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from provledger.events import Event, decode_record


async def consume(
    bootstrap: str, topic: str, expected: int, weigh: Callable[[bytes], int], timeout_s: float = 30.0
) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of ``topic``'s records, partition by partition in offset order.

    Polls until the records' weights (``weigh(value)``: events in it, or 1) reach ``expected``,
    then once more, so a duplicate or an extra record shows up instead of hiding.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"{topic}.check",
    )
    await consumer.start()
    by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
    weight = 0
    try:
        deadline = time.monotonic() + timeout_s
        last_poll = False
        while not last_poll:
            last_poll = weight >= expected or time.monotonic() > deadline
            for partition, records in (await consumer.getmany(timeout_ms=300)).items():
                for record in records:
                    value = record.value or b""
                    by_partition.setdefault(partition.partition, []).append((record.key, value))
                    weight += weigh(value)
    finally:
        await consumer.stop()
    return [item for partition in sorted(by_partition) for item in by_partition[partition]]


async def consume_events(bootstrap: str, topic: str, expected: int) -> list[Event]:
    """The events of ``topic``'s EventBatch records; each record's key MUST be its events' key."""
    records = await consume(bootstrap, topic, expected, lambda value: len(decode_record(value)))
    events = []
    for key, value in records:
        decoded = decode_record(value)
        assert {event.record_key().encode() for event in decoded} == {key}
        events += decoded
    return events
