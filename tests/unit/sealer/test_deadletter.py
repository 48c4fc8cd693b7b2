"""Dead letters always fit: a letter the producer or a broker refuses goes as a stub; outages still raise."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from provledger.errors import ServiceUnavailable
from provledger.sealer.deadletter import MAX_DETAIL_BYTES, KafkaDeadLetters, headers_of, max_request_bytes
from provledger.sealer.intake import Rejected, SourceRecord
from provledger.sealer.metrics import SealerMetrics

TOPIC = "provledger.dead-letter"


class Producer:
    """A producer that refuses records as aiokafka's and a broker do.

    A record larger than ``max_request_size`` is refused at once, by the producer; a broker
    refuses a whole request (here: every record queued before the next wait) when one of its
    records is larger than ``broker_limit``.
    """

    def __init__(self, max_request_size: int = 1 << 20, broker_limit: int | None = None) -> None:
        self.max_request_size = max_request_size
        self.broker_limit = broker_limit
        self.broker_error: KafkaError | None = None  # what every delivery fails with (an outage)
        self.delivered: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
        self._request: list[tuple[asyncio.Future[object], tuple[bytes | None, bytes, dict[str, bytes]]]] = []

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[object]:
        headers = headers or []
        assert topic == TOPIC
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > self.max_request_size:
            raise MessageSizeTooLargeError(f"the message is {size} bytes")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._request.append((future, (key, value, dict(headers))))
        asyncio.get_running_loop().call_soon(self._answer)
        return future

    def _answer(self) -> None:
        request, self._request = self._request, []
        if not request:
            return
        too_large = self.broker_limit is not None and any(len(r[1]) > self.broker_limit for _, r in request)
        for future, record in request:
            if self.broker_error is not None:
                future.set_exception(self.broker_error)
            elif too_large:
                future.set_exception(MessageSizeTooLargeError("a message larger than the broker takes"))
            else:
                self.delivered.append(record)
                future.set_result(None)


def _rejected(value: bytes | None, offset: int = 7, reason: str = "conflicting_duplicate") -> Rejected:
    record = SourceRecord("provledger.events", 2, offset, None, b"run-1", value)
    return Rejected(record, reason, "event 1 was already recorded with different content", "event-1")


def _sink(producer: Producer) -> tuple[KafkaDeadLetters, SealerMetrics]:
    metrics = SealerMetrics()
    return KafkaDeadLetters(producer, TOPIC, metrics), metrics


def _count(metrics: SealerMetrics, reason: str = "conflicting_duplicate") -> tuple[float, float]:
    return (
        metrics.dead_letters_produced.labels(reason)._value.get(),
        metrics.dead_letter_stubs.labels(reason)._value.get(),
    )


async def test_a_dead_letter_that_fits_goes_whole() -> None:
    producer = Producer()
    sink, metrics = _sink(producer)
    item = _rejected(b"original bytes")
    await sink.send([item])
    assert producer.delivered == [(b"run-1", b"original bytes", dict(headers_of(item)))]
    assert _count(metrics) == (1, 0)


def _check_stub(delivered: tuple[bytes | None, bytes, dict[str, bytes]], original: Rejected) -> None:
    key, value, headers = delivered
    assert original.record.value is not None
    assert key == original.record.key
    assert json.loads(value) == {
        "stub": True,
        "reason": original.reason,
        "source_topic": "provledger.events",
        "source_partition": 2,
        "source_offset": original.record.offset,
        "value_sha256": hashlib.sha256(original.record.value).hexdigest(),
        "value_length": len(original.record.value),
    }
    assert headers["provledger-stub"] == b"true"
    assert b"MessageSizeTooLargeError" in headers["provledger-stub-cause"]
    assert headers["provledger-reason"] == original.reason.encode()
    assert headers["provledger-source"] == f"provledger.events/2/{original.record.offset}".encode()
    assert headers["provledger-event-id"] == b"event-1"


async def test_a_dead_letter_larger_than_the_producer_takes_goes_as_a_stub() -> None:
    producer = Producer(max_request_size=8192)
    sink, metrics = _sink(producer)
    large, small = _rejected(b"x" * 10_000, offset=7), _rejected(b"small", offset=8)
    await sink.send([large, small])
    assert len(producer.delivered) == 2
    _check_stub(producer.delivered[0], large)
    assert producer.delivered[1][1] == b"small"
    assert _count(metrics) == (1, 1)


async def test_a_request_a_broker_refuses_is_sent_again_one_by_one_and_the_large_one_as_a_stub() -> None:
    producer = Producer(broker_limit=4096)
    sink, metrics = _sink(producer)
    small, large, other = _rejected(b"a", 1), _rejected(b"y" * 5000, 2), _rejected(b"b", 3)
    await sink.send([small, large, other])
    by_offset = {int(d[2]["provledger-source"].rsplit(b"/", 1)[1]): d for d in producer.delivered}
    assert sorted(by_offset) == [1, 2, 3]
    assert by_offset[1][1] == b"a", "innocent neighbours go whole"
    assert by_offset[3][1] == b"b"
    _check_stub(by_offset[2], large)
    assert _count(metrics) == (2, 1)


@pytest.mark.parametrize(
    "error",
    [KafkaConnectionError("broker down"), KafkaTimeoutError(), TopicAuthorizationFailedError()],
    ids=lambda e: type(e).__name__,
)
async def test_a_broker_that_is_away_or_refuses_us_raises_service_unavailable_and_stubs_nothing(
    error: KafkaError,
) -> None:
    producer = Producer()
    producer.broker_error = error
    sink, metrics = _sink(producer)
    with pytest.raises(ServiceUnavailable, match="could not write dead letters"):
        await sink.send([_rejected(b"original")])
    assert producer.delivered == []
    assert _count(metrics) == (0, 0)


async def test_a_stub_that_cannot_go_either_raises_service_unavailable() -> None:
    producer = Producer(max_request_size=64)  # not even a stub fits: the configuration is at fault
    sink, _ = _sink(producer)
    with pytest.raises(ServiceUnavailable):
        await sink.send([_rejected(b"z" * 1000)])
    assert producer.delivered == []


def test_headers_always_encode_and_the_detail_is_cut_at_a_character() -> None:
    detail = "\ud800 is a lone surrogate; " + "é" * 4000
    item = Rejected(SourceRecord("t", 0, 1, None, None, b"v"), "unsealable", detail)
    headers = dict(headers_of(item))
    assert len(headers["provledger-detail"]) <= MAX_DETAIL_BYTES
    assert headers["provledger-detail"].decode().startswith("\\ud800 is a lone surrogate; éé")


def test_the_largest_record_the_sealer_accepts_fits_the_dead_letter_producer_with_its_headers() -> None:
    max_record_bytes = 1 << 20
    record = SourceRecord("t" * 249, 2**31 - 1, 2**63 - 1, None, b"0190f3c4-0000-7000-8000-000000000000", b"")
    item = Rejected(record, "conflicting_duplicate", "d" * 10_000, "0190f3c4-0000-7000-8000-000000000001")
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        record.key, b"v" * max_record_bytes, headers_of(item)
    )
    assert size <= max_request_bytes(max_record_bytes)
