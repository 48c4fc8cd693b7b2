"""Ship sealed batches to Kafka: one record in flight per key, retries, delivery metrics.

Ordering: Kafka keeps a partition's records in the order they were written, and aiokafka keeps
a partition's batches in order through its own retries (one request in flight per broker).
Our own retries could still reorder a key's records: a record that failed would be written
after a later one already sent. So a key has at most one record in flight; the next waits for
its predecessor's acknowledgement or final failure. Keys are many (one per run), so records of
different runs still travel together.

Delivery is at least once: a retry after a timeout may write a record the broker had already
stored. Every event carries its UUIDv7 ``event_id`` and the sealer keeps one copy per id, so the
ledger holds each event exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from provledger.config import KafkaSettings
from provledger.emit.batcher import Batch
from provledger.emit.options import EmitterOptions
from provledger.errors import ServiceUnavailable
from provledger.kafka_security import client_options


class Producer(Protocol):
    """What the sender needs of a Kafka producer; aiokafka's ``AIOKafkaProducer`` is one."""

    async def send(self, topic: str, value: bytes, key: bytes) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class EmitterMetrics:
    """A snapshot of an emitter's counters, for logs and Prometheus gauges.

    ``queued`` is accepted and not yet settled (acknowledged or failed): what a crash now
    would lose. ``retries`` counts records sent again after a transient error.
    """

    sent: int
    failed: int
    queued: int
    records_sent: int
    retries: int


def make_producer(settings: KafkaSettings, options: EmitterOptions) -> AIOKafkaProducer:
    """An aiokafka producer for event batches: acks from all in-sync replicas, no idempotence.

    Idempotence stays off because Tansu (the development broker) does not implement
    InitProducerId; event ids make duplicates harmless. Each of our records is already a batch,
    so aiokafka's own linger is zero and its batch and request limits fit our largest record.
    """
    return AIOKafkaProducer(
        bootstrap_servers=settings.require_kafka_bootstrap(),
        client_id=f"{settings.kafka_client_id}-emitter",
        acks="all",
        enable_idempotence=False,
        linger_ms=0,
        max_batch_size=settings.max_record_bytes + 1024,
        # A record of PROVLEDGER_MAX_RECORD_BYTES plus its key and the request's framing.
        max_request_size=settings.max_record_bytes + 64 * 1024,
        request_timeout_ms=int(options.request_timeout_s * 1000),
        retry_backoff_ms=int(options.retry_backoff_s * 1000),
        **client_options(settings),
    )


def is_transient(exc: KafkaError) -> bool:
    """Whether sending again may succeed: the broker said so, or it did not answer."""
    return bool(getattr(exc, "retriable", False)) or isinstance(exc, KafkaConnectionError | KafkaTimeoutError)


class Sender:
    """Send batches handed in by :meth:`submit`; call ``on_settled(events)`` as each one settles.

    Lives on one event loop; every method is called from that loop.
    """

    def __init__(
        self,
        producer: Producer,
        topic: str,
        options: EmitterOptions,
        on_settled: Callable[[int], None],
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._options = options
        self._on_settled = on_settled
        self._waiting: dict[bytes, deque[Batch]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._unsettled = 0
        self.sent = 0
        self.failed = 0
        self.records_sent = 0
        self.retries = 0
        self.last_error: BaseException | None = None

    def submit(self, batch: Batch) -> None:
        """Queue ``batch`` behind its key's earlier batches; start sending if its key is idle."""
        self._unsettled += batch.count
        self._idle.clear()
        queue = self._waiting.get(batch.key)
        if queue is not None:
            queue.append(batch)
            return
        self._waiting[batch.key] = deque((batch,))
        task = asyncio.get_running_loop().create_task(self._drive(batch.key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive(self, key: bytes) -> None:
        """Send ``key``'s batches one after another until its queue is empty."""
        queue = self._waiting[key]
        while queue:
            batch = queue[0]
            delivered = await self._deliver(batch)
            queue.popleft()
            if delivered:
                self.sent += batch.count
                self.records_sent += 1
            else:
                self.failed += batch.count
            self._unsettled -= batch.count
            self._on_settled(batch.count)
        del self._waiting[key]
        if self._unsettled == 0:
            self._idle.set()

    async def _deliver(self, batch: Batch) -> bool:
        """Send one record until acknowledged (True) or out of time or retries (False)."""
        value = batch.value()
        give_up_at = time.monotonic() + self._options.delivery_timeout_s
        backoff = self._options.retry_backoff_s
        while True:
            try:
                acknowledged = await self._producer.send(self._topic, value, key=batch.key)
                await acknowledged
                return True
            except KafkaError as exc:
                self.last_error = exc
                if not is_transient(exc) or time.monotonic() + backoff >= give_up_at:
                    return False
                self.retries += 1
            except Exception as exc:
                # Anything else (a producer closed under us, a bug) fails this record alone:
                # every batch MUST settle, or flush() would wait forever.
                self.last_error = exc
                return False
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, self._options.max_retry_backoff_s)

    async def drain(self) -> None:
        """Wait until every submitted batch has settled."""
        await self._idle.wait()

    def check_failures(self, already_reported: int) -> int:
        """Raise if events failed since ``already_reported`` failures; returns the failure count."""
        if self.failed > already_reported:
            raise ServiceUnavailable(
                f"{self.failed - already_reported} events could not be delivered to Kafka topic "
                f"{self._topic!r} within {self._options.delivery_timeout_s:g} s; last error: "
                f"{self.last_error!r}. Check that the brokers are up and the topic accepts writes."
            )
        return self.failed
