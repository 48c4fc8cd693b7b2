"""The sender keeps one record in flight per key, so retries never reorder a run's records.

Transient broker errors cannot be caused on demand against the real broker without also
stalling every other key, so this test drives the sender with an in-memory producer that
fails the way aiokafka does (a future that raises). The real broker is in tests/integration/emit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError, MessageSizeTooLargeError

from provledger.emit.batcher import Batch
from provledger.emit.options import EmitterOptions
from provledger.emit.sender import Sender, is_transient
from provledger.errors import ServiceUnavailable
from provledger.events.codec import HEADER_SIZE

OPTIONS = EmitterOptions(retry_backoff_s=0.001, max_retry_backoff_s=0.004, delivery_timeout_s=5.0)


class FlakyProducer:
    """Stores (key, event body) in a log; fails chosen attempts; counts records in flight per key."""

    def __init__(self, failures: dict[bytes, list[KafkaError]]) -> None:
        self.failures = failures
        self.log: list[tuple[bytes, bytes]] = []
        self.in_flight: dict[bytes, int] = {}
        self.most_in_flight = 0

    async def send(self, topic: str, value: bytes, key: bytes) -> Awaitable[None]:
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight[key])
        return asyncio.ensure_future(self._acknowledge(key, value))

    async def _acknowledge(self, key: bytes, value: bytes) -> None:
        await asyncio.sleep(0.001)
        self.in_flight[key] -= 1
        body = value[HEADER_SIZE + 1 : -1]  # one-item array: count, the body, end marker
        planned = self.failures.get(body)
        if planned:
            raise planned.pop(0)
        self.log.append((key, body))


def _batch(key: bytes, value: bytes) -> Batch:
    return Batch(key, 0.0, [value], 20)


async def test_retries_keep_each_keys_records_in_order() -> None:
    failures: dict[bytes, list[KafkaError]] = {
        b"a1": [KafkaConnectionError("reset"), KafkaConnectionError("reset")],
        b"b0": [KafkaConnectionError("reset")],
    }
    producer = FlakyProducer(failures)
    settled: list[int] = []
    sender = Sender(producer, "events", OPTIONS, settled.append)
    for i in range(5):
        for key in (b"a", b"b"):
            sender.submit(_batch(key, key + str(i).encode()))
    await sender.drain()
    for key in (b"a", b"b"):
        values = [value for k, value in producer.log if k == key]
        assert [v[len(key) :] for v in values] == [str(i).encode() for i in range(5)]
    assert producer.most_in_flight == 1
    assert (sender.sent, sender.failed, sender.retries, sender.records_sent) == (10, 0, 3, 10)
    assert sum(settled) == 10
    assert sender.check_failures(0) == 0


async def test_permanent_errors_fail_the_record_and_are_reported_once() -> None:
    producer = FlakyProducer({b"big": [MessageSizeTooLargeError()]})
    sender = Sender(producer, "events", OPTIONS, lambda _: None)
    sender.submit(_batch(b"k", b"big"))
    sender.submit(_batch(b"k", b"after"))
    await sender.drain()
    assert producer.log == [(b"k", b"after")]
    assert (sender.sent, sender.failed, sender.retries) == (1, 1, 0)
    with pytest.raises(ServiceUnavailable, match="1 events could not be delivered"):
        sender.check_failures(0)
    assert sender.check_failures(1) == 1


async def test_transient_errors_give_up_after_the_delivery_timeout() -> None:
    forever: list[KafkaError] = [KafkaConnectionError("down") for _ in range(1000)]
    producer = FlakyProducer({b"lost": forever})
    options = EmitterOptions(retry_backoff_s=0.01, max_retry_backoff_s=0.02, delivery_timeout_s=0.1)
    sender = Sender(producer, "events", options, lambda _: None)
    sender.submit(_batch(b"k", b"lost"))
    await asyncio.wait_for(sender.drain(), 5)
    assert sender.failed == 1
    assert 2 <= sender.retries <= 10


def test_which_errors_are_transient() -> None:
    assert is_transient(KafkaConnectionError())
    assert not is_transient(MessageSizeTooLargeError())
