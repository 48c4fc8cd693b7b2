"""Dead letters: rejected records go to ``provledger.dead-letter`` with their original bytes.

The value is the source record's value byte for byte and the key its key, so a fixed producer
can replay it; why it was rejected travels in headers::

    provledger-reason         stable machine-readable code (oversized, unknown_fingerprint, unsealable, ...)
    provledger-detail         what exactly was wrong, for a person (at most 2 KiB)
    provledger-source         <topic>/<partition>/<offset> of the original record
    provledger-event-id       the event concerned, for a conflicting duplicate

Dead letters are sent, and acknowledged by the brokers, before the block of the same batch
commits: a crash in between sends them again on replay (at least once), never loses them.

A dead letter always fits, so no record can stall its shard. The producer's
``max_request_size`` is :func:`max_request_bytes`: the largest record value the sealer accepts
plus :data:`HEADROOM` for key, headers and framing. A dead letter refused all the same (by the
producer, or by a broker whose ``message.max.bytes`` is lower, or for any other reason about
the record rather than the broker's health: :func:`refuses_record`) is tried once more on its
own, then replaced by a stub that says what the original was::

    key       the original key if at most 1 KiB, else none
    value     UTF-8 JSON, keys sorted: {"reason": ..., "source_offset": ..., "source_partition": ...,
              "source_topic": ..., "stub": true, "value_length": <bytes, or null for no value>,
              "value_sha256": <hex of the original value, or null>}
    headers   the same headers as the whole letter, plus
              provledger-stub        "true"
              provledger-stub-cause  why the whole dead letter was refused (exception and message)

A broker that is away (aiokafka's retriable errors, timeouts) raises :class:`ServiceUnavailable`
and the sealer retries the batch; so does a stub that is refused too, since then the topic or the
broker's configuration is at fault, not the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    ProducerClosed,
    TopicAuthorizationFailedError,
)

from provledger.errors import ServiceUnavailable
from provledger.sealer.intake import Rejected
from provledger.sealer.metrics import SealerMetrics

MAX_DETAIL_BYTES = 2048
#: Room beyond the record value: headers (detail at most 2 KiB, a topic name at most 249
#: characters), record and batch framing (~130 bytes), and a key (a run id; keys longer than
#: the rest of this leave the stub to carry the record).
HEADROOM = 64 << 10
#: Longest original key a stub keeps.
MAX_STUB_KEY_BYTES = 1024

#: Non-retriable errors that are about the broker or our rights, not the record: a stub fails too.
_NOT_ABOUT_THE_RECORD = (
    KafkaTimeoutError,
    KafkaUnavailableError,
    ProducerClosed,
    AuthenticationFailedError,
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
)


class DeadLetterSink(Protocol):
    """Where the sealer sends what it rejects."""

    async def send(self, rejected: Sequence[Rejected]) -> None: ...


def max_request_bytes(max_record_bytes: int) -> int:
    """The dead-letter producer's ``max_request_size`` for a sealer accepting ``max_record_bytes``."""
    return max_record_bytes + HEADROOM


def refuses_record(exc: BaseException) -> bool:
    """Whether ``exc`` refuses this record (too large, invalid), so sending it again as is cannot help.

    aiokafka marks the broker's passing troubles ``retriable``; what is left is about the record
    (``MessageSizeTooLargeError`` from the producer's own check or a broker, record list too
    large, invalid timestamp, a broker's ``UnknownError``), except timeouts and refused rights.
    """
    return isinstance(exc, KafkaError) and not exc.retriable and not isinstance(exc, _NOT_ABOUT_THE_RECORD)


def _header(text: str, limit: int | None = None) -> bytes:
    """UTF-8 that always encodes (lone surrogates escaped), cut at a character boundary."""
    encoded = text.encode("utf-8", "backslashreplace")
    if limit is not None and len(encoded) > limit:
        encoded = encoded[:limit].decode("utf-8", "ignore").encode()
    return encoded


def headers_of(item: Rejected) -> list[tuple[str, bytes]]:
    """The headers that say why ``item`` was rejected and where it came from."""
    source = item.record
    headers = [
        ("provledger-reason", _header(item.reason)),
        ("provledger-detail", _header(item.detail, MAX_DETAIL_BYTES)),
        ("provledger-source", _header(f"{source.topic}/{source.partition}/{source.offset}")),
    ]
    if item.event_id is not None:
        headers.append(("provledger-event-id", _header(item.event_id)))
    return headers


def stub_of(item: Rejected, cause: BaseException) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of the stub that stands for ``item``'s dead letter (module docstring)."""
    record = item.record
    value = record.value
    document = {
        "stub": True,
        "reason": item.reason,
        "source_topic": record.topic,
        "source_partition": record.partition,
        "source_offset": record.offset,
        "value_sha256": None if value is None else hashlib.sha256(value).hexdigest(),
        "value_length": None if value is None else len(value),
    }
    key = record.key if record.key is not None and len(record.key) <= MAX_STUB_KEY_BYTES else None
    headers = [
        *headers_of(item),
        ("provledger-stub", b"true"),
        ("provledger-stub-cause", _header(f"{type(cause).__name__}: {cause}", MAX_DETAIL_BYTES)),
    ]
    return key, json.dumps(document, sort_keys=True, separators=(",", ":")).encode(), headers


class KafkaDeadLetters:
    """Sends dead letters with ``acks=all`` and waits for every acknowledgement; a stub if one cannot go."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, metrics: SealerMetrics | None = None) -> None:
        self._producer = producer
        self._topic = topic
        self._metrics = metrics or SealerMetrics()

    async def send(self, rejected: Sequence[Rejected]) -> None:
        if not rejected:
            return
        try:
            # Queue them all before waiting for any, so they travel in as few requests as possible.
            queued = [(item, *await self._queue(item)) for item in rejected]
            for item, delivery, stub in queued:
                try:
                    await delivery
                except KafkaError as exc:
                    if not refuses_record(exc):
                        raise
                    await self._send_alone(item, exc)
                else:
                    self._count(item, stub)
        except KafkaError as exc:
            raise ServiceUnavailable(f"could not write dead letters to {self._topic}: {exc}") from exc

    async def _queue(self, item: Rejected) -> tuple[asyncio.Future[object], bool]:
        """Queue the whole dead letter, or its stub when the producer refuses it at once; and which."""
        try:
            return await self._queue_whole(item), False
        except KafkaError as exc:
            if not refuses_record(exc):
                raise
            return await self._queue_stub(item, exc), True

    async def _send_alone(self, item: Rejected, refused: KafkaError) -> None:
        """Send a dead letter a broker refused on its own, then as a stub if it is refused again.

        A broker refuses a whole request, so a good dead letter that shared one with a large
        neighbour is refused too; alone it goes through.
        """
        try:
            await (await self._queue_whole(item))
            self._count(item, stub=False)
            return
        except KafkaError as exc:
            if not refuses_record(exc):
                raise
            refused = exc
        await (await self._queue_stub(item, refused))
        self._count(item, stub=True)

    async def _queue_whole(self, item: Rejected) -> asyncio.Future[object]:
        """Queue the dead letter itself: the original key and value, the reason in headers."""
        future: asyncio.Future[object] = await self._producer.send(
            self._topic, value=item.record.value, key=item.record.key, headers=headers_of(item)
        )
        return future

    async def _queue_stub(self, item: Rejected, cause: KafkaError) -> asyncio.Future[object]:
        key, value, headers = stub_of(item, cause)
        future: asyncio.Future[object] = await self._producer.send(
            self._topic, value=value, key=key, headers=headers
        )
        return future

    def _count(self, item: Rejected, stub: bool) -> None:
        counter = self._metrics.dead_letter_stubs if stub else self._metrics.dead_letters_produced
        counter.labels(item.reason).inc()
