"""Dead letters: rejected records go to ``provledger.dead-letter`` with their original bytes.

The value is the source record's value byte for byte and the key its key, so a fixed producer
can replay it; why it was rejected travels in headers::

    provledger-reason         stable machine-readable code (oversized, unknown_fingerprint, ...)
    provledger-detail         what exactly was wrong, for a person
    provledger-source         <topic>/<partition>/<offset> of the original record
    provledger-event-id       the event concerned, for a conflicting duplicate

Dead letters are sent, and acknowledged by the brokers, before the block of the same batch
commits: a crash in between sends them again on replay (at least once), never loses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from provledger.errors import ServiceUnavailable
from provledger.sealer.intake import Rejected

MAX_DETAIL_BYTES = 2048


class DeadLetterSink(Protocol):
    """Where the sealer sends what it rejects."""

    async def send(self, rejected: Sequence[Rejected]) -> None: ...


def headers_of(item: Rejected) -> list[tuple[str, bytes]]:
    """The headers that say why ``item`` was rejected and where it came from."""
    source = item.record
    headers = [
        ("provledger-reason", item.reason.encode()),
        ("provledger-detail", item.detail.encode()[:MAX_DETAIL_BYTES]),
        ("provledger-source", f"{source.topic}/{source.partition}/{source.offset}".encode()),
    ]
    if item.event_id is not None:
        headers.append(("provledger-event-id", item.event_id.encode()))
    return headers


class KafkaDeadLetters:
    """Sends dead letters with ``acks=all`` and waits for every acknowledgement."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def send(self, rejected: Sequence[Rejected]) -> None:
        if not rejected:
            return
        try:
            futures = [
                await self._producer.send(
                    self._topic, value=item.record.value, key=item.record.key, headers=headers_of(item)
                )
                for item in rejected
            ]
            for future in futures:
                await future
        except KafkaError as exc:
            raise ServiceUnavailable(f"could not write dead letters to {self._topic}: {exc}") from exc
