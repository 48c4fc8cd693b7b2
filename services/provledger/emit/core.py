"""The machinery both emitters share: batching under a lock, the linger timer, back-pressure counts.

Callers on any thread add encoded events with :meth:`EmitterCore.try_add`; everything that
talks to Kafka runs on the core's event loop. Sealed batches cross to the loop with
``call_soon_threadsafe`` *while the lock is held*, so they reach the sender in the order they
were sealed, whichever thread sealed them: that is what keeps one key's batches in order. The
crossing happens once per batch, not per event, so the hot path is an encode, a lock and a dict
lookup.

Accounting: ``accepted`` counts events taken in, ``settled`` events acknowledged or failed;
``accepted - settled`` is what is buffered, bounded by ``max_buffered_events``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from provledger.config import KafkaSettings
from provledger.emit.batcher import RECORD_OVERHEAD, Batch, Batcher
from provledger.emit.options import EmitterOptions
from provledger.emit.sender import EmitterMetrics, Sender, make_producer
from provledger.errors import ConfigurationError, InvalidEvent, ServiceUnavailable

#: What :meth:`EmitterCore.try_add` did with an event.
FULL, ADDED, SEALED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Connected:
    """What exists once the core has started on its loop."""

    loop: asyncio.AbstractEventLoop
    producer: AIOKafkaProducer
    sender: Sender
    progress: asyncio.Event  # set whenever events settle; waiters clear it and re-check


class EmitterCore:
    """Batches, counters and the Kafka side of one emitter; started on the loop that sends."""

    def __init__(self, settings: KafkaSettings, options: EmitterOptions, topic: str | None) -> None:
        if options.max_batch_bytes > settings.max_record_bytes:
            raise ConfigurationError(
                f"max_batch_bytes {options.max_batch_bytes} is larger than PROVLEDGER_MAX_RECORD_BYTES "
                f"({settings.max_record_bytes}), so the sealer would dead-letter full batches: lower it"
            )
        self.settings = settings
        self.options = options
        self.topic = topic or settings.topic_events
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)
        self._batcher = Batcher(options)
        self.accepted = 0
        self.settled = 0
        self._timer_armed = False
        self._closed = False
        self._reported_failures = 0
        self._connected: _Connected | None = None

    async def start(self) -> None:
        """Connect the producer; MUST run on the loop that will send."""
        producer = make_producer(self.settings, self.options)
        try:
            await asyncio.wait_for(producer.start(), self.options.connect_timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            await producer.stop()
            raise ServiceUnavailable(
                f"Kafka at {self.settings.kafka_bootstrap!r} did not answer within "
                f"{self.options.connect_timeout_s:g} s ({exc!r}): check PROVLEDGER_KAFKA_BOOTSTRAP."
            ) from exc
        sender = Sender(producer, self.topic, self.options, self._settle)
        self._connected = _Connected(asyncio.get_running_loop(), producer, sender, asyncio.Event())

    def loop_call(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` soon on the core's loop, from any thread."""
        self._live().loop.call_soon_threadsafe(callback)

    def _live(self) -> _Connected:
        if self._connected is None or self._closed:
            raise RuntimeError("the emitter is not started or already closed: start it (or use `with`) first")
        return self._connected

    # ---- any thread ----------------------------------------------------------------------

    def try_add(self, key: bytes, body: bytes) -> int:
        """Take one encoded event: :data:`ADDED`, :data:`SEALED` (it closed a batch) or :data:`FULL`.

        ``FULL`` means it was not taken: wait for room and try again. An event too large to
        travel in a record alone is refused with InvalidEvent(oversized): the sealer would
        dead-letter it.
        """
        if len(body) + RECORD_OVERHEAD > self.settings.max_record_bytes:
            raise InvalidEvent(
                "oversized",
                f"the event is {len(body)} bytes of Avro, too large for one Kafka record of at most "
                f"{self.settings.max_record_bytes} bytes (PROVLEDGER_MAX_RECORD_BYTES): record large values "
                "by digest instead",
            )
        with self.lock:
            if self._connected is None or self._closed:
                self._live()  # raises, saying why
            if self.accepted - self.settled >= self.options.max_buffered_events:
                return FULL
            self.accepted += 1
            batch = self._batcher.add(key, body, time.monotonic())
            if batch is not None:
                self._dispatch([batch])
                return SEALED
            if not self._timer_armed:
                self._timer_armed = True
                self.loop_call(self._linger)
            return ADDED

    def full(self) -> bool:
        """Whether an event would have to wait for room now."""
        return self.accepted - self.settled >= self.options.max_buffered_events

    def push_open_batches(self) -> int:
        """Send every open batch now rather than after its linger; returns ``accepted`` at that moment."""
        with self.lock:
            self._dispatch(self._batcher.drain())
            return self.accepted

    def metrics(self) -> EmitterMetrics:
        queued = self.accepted - self.settled
        if self._connected is None:
            return EmitterMetrics(sent=0, failed=0, queued=queued, records_sent=0, retries=0)
        s = self._connected.sender
        return EmitterMetrics(s.sent, s.failed, queued, s.records_sent, s.retries)

    def _dispatch(self, batches: list[Batch]) -> None:
        """Hand sealed batches to the sender in seal order; the caller holds ``lock``."""
        if batches:
            connected = self._connected
            if connected is None:
                raise RuntimeError("the emitter is not started")
            for batch in batches:
                connected.loop.call_soon_threadsafe(connected.sender.submit, batch)

    # ---- the loop ------------------------------------------------------------------------

    def _linger(self) -> None:
        """Send the batches whose linger is over, and wake again at the next deadline."""
        with self.lock:
            self._dispatch(list(self._batcher.due(time.monotonic())))
            deadline = self._batcher.next_deadline()
            if deadline is None:
                self._timer_armed = False
                return
        asyncio.get_running_loop().call_later(max(0.0, deadline - time.monotonic()), self._linger)

    def _settle(self, events: int) -> None:
        with self.lock:
            self.settled += events
            self.room.notify_all()
        if self._connected is not None:
            self._connected.progress.set()

    async def _until(self, done: Callable[[], bool], deadline: float | None = None) -> bool:
        """Wait on the loop until ``done()`` holds (True) or ``deadline`` passes (False)."""
        if self._connected is None:
            raise RuntimeError("the emitter is not started")
        progress = self._connected.progress
        while not done():
            progress.clear()
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return False
            try:
                await asyncio.wait_for(progress.wait(), timeout)
            except TimeoutError:
                return False
        return True

    async def wait_for_room(self, deadline: float) -> bool:
        """Wait (on the loop) until the buffer has room or ``deadline`` passes; False if it passed."""
        return await self._until(lambda: not self.full(), deadline)

    async def flush(self) -> None:
        """Send everything accepted so far and wait until it settles; raise if any of it failed."""
        target = self.push_open_batches()
        await self._until(lambda: self.settled >= target)
        if self._connected is not None:
            sender = self._connected.sender
            self._reported_failures = sender.check_failures(self._reported_failures)

    async def close(self) -> None:
        """Refuse new events, flush, and disconnect; the producer stops even when the flush fails."""
        with self.lock:
            if self._closed or self._connected is None:
                self._closed = True
                return
            self._closed = True
        try:
            await self.flush()
        finally:
            await self._connected.producer.stop()
