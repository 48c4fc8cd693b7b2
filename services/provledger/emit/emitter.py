"""The two emitters: :class:`Emitter` for asyncio code, :class:`SyncEmitter` for plain scripts.

Both batch events into ``EventBatch`` records keyed by run (model, for inference), keep each
key's events in order, block for at most ``max_block_s`` when ``max_buffered_events`` are
waiting for the broker (then raise :class:`~provledger.errors.Pushback`), retry transient broker
errors, and lose nothing on ``flush()`` / ``close()``: both return once every event accepted
before them is acknowledged by the broker, and raise if any could not be delivered.

:class:`SyncEmitter` runs its own event loop on a background thread. ``emit`` encodes and
batches in the caller's thread and crosses to the loop once per batch, so a training loop pays
microseconds per event, not a thread hop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar

from provledger.config import KafkaSettings
from provledger.emit.core import FULL, SEALED, EmitterCore
from provledger.emit.encoding import BodyEncoder
from provledger.emit.inference import InferenceLogger, SyncInferenceLogger
from provledger.emit.options import EmitterOptions
from provledger.emit.runs import AsyncRunRecorder, Attributes, SyncRunRecorder
from provledger.emit.sender import EmitterMetrics
from provledger.errors import Pushback
from provledger.events import ArtifactRef, Event, Job

#: The ``producer`` URI of events the helpers build, unless the emitter is given another.
SDK_PRODUCER = "https://github.com/provledger/provledger/tree/main/services/provledger/emit"


def _pushback(options: EmitterOptions) -> Pushback:
    return Pushback(
        f"{options.max_buffered_events} events are waiting for the broker and none settled within "
        f"{options.max_block_s:g} s: Kafka is slow or down. Retry later, or raise max_buffered_events."
    )


RunT = TypeVar("RunT", SyncRunRecorder, AsyncRunRecorder)
LoggerT = TypeVar("LoggerT", SyncInferenceLogger, InferenceLogger)


class _EmitterBase(Generic[RunT, LoggerT]):
    """Settings, options and the helpers, shared by both emitters; each names its helper classes."""

    _runs: type[RunT]
    _loggers: type[LoggerT]
    #: The emitter's ``emit``: a blocking method, or a coroutine function.
    emit: Callable[[Event], Any]

    def __init__(
        self,
        settings: KafkaSettings,
        options: EmitterOptions | None = None,
        *,
        producer: str = SDK_PRODUCER,
        topic: str | None = None,
    ) -> None:
        self.options = options or EmitterOptions()
        self.producer = producer
        self._core = EmitterCore(settings, self.options, topic)
        self._encode = BodyEncoder().encode

    @property
    def metrics(self) -> EmitterMetrics:
        """Events sent, failed and queued so far (a snapshot)."""
        return self._core.metrics()

    @property
    def topic(self) -> str:
        return self._core.topic

    def run(
        self,
        job: str,
        namespace: str = "default",
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> RunT:
        """``with`` (or ``async with``) ``emitter.run(job=..., namespace=...) as run:``.

        Emits START on entry, then COMPLETE, or FAIL (ABORT when interrupted) on exit.
        """
        return self._runs(
            self.emit,
            Job(namespace, job),
            self.producer,
            run_id=run_id,
            parent_run_id=parent_run_id,
            attributes=attributes,
        )

    def inference_logger(
        self, model: ArtifactRef, *, service: str, namespace: str = "default", run_id: str | None = None
    ) -> LoggerT:
        """A logger of one served model's predictions (digests only)."""
        return self._loggers(self.emit, model, Job(namespace, service), self.producer, run_id=run_id)


class Emitter(_EmitterBase[AsyncRunRecorder, InferenceLogger]):
    """Emit events from asyncio code: ``async with Emitter(settings) as emitter: await emitter.emit(e)``."""

    _runs = AsyncRunRecorder
    _loggers = InferenceLogger

    async def start(self) -> None:
        """Connect to Kafka (ServiceUnavailable if it does not answer within ``connect_timeout_s``)."""
        await self._core.start()

    async def emit(self, event: Event) -> None:
        """Queue ``event``; waits only while the buffer is full, raising Pushback after ``max_block_s``."""
        core, key, body = self._core, event.record_key().encode(), self._encode(event)
        added = core.try_add(key, body)
        if added == SEALED:
            # Yield once per batch, so the sender ships it while the caller goes on producing.
            await asyncio.sleep(0)
        if added != FULL:
            return
        deadline = time.monotonic() + self.options.max_block_s
        core.push_open_batches()
        while core.try_add(key, body) == FULL:
            if not await core.wait_for_room(deadline):
                raise _pushback(self.options)

    async def flush(self) -> None:
        """Return once every event emitted so far is acknowledged; raise if any was not deliverable."""
        await self._core.flush()

    async def close(self) -> None:
        """Flush, then disconnect; emitting afterwards is an error."""
        await self._core.close()

    async def __aenter__(self) -> Emitter:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class SyncEmitter(_EmitterBase[SyncRunRecorder, SyncInferenceLogger]):
    """Emit events from blocking code: ``with SyncEmitter(settings) as emitter: emitter.emit(e)``.

    Thread-safe. Do not call it from inside an asyncio event loop (a full buffer would block
    that loop): use :class:`Emitter` there.
    """

    _runs = SyncRunRecorder
    _loggers = SyncInferenceLogger

    def __init__(
        self,
        settings: KafkaSettings,
        options: EmitterOptions | None = None,
        *,
        producer: str = SDK_PRODUCER,
        topic: str | None = None,
    ) -> None:
        super().__init__(settings, options, producer=producer, topic=topic)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="provledger-emitter", daemon=True)

    def start(self) -> None:
        """Start the background loop and connect to Kafka."""
        self._thread.start()
        try:
            self._call(self._core.start())
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the background loop and wait for it, re-raising what it raises."""
        asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def emit(self, event: Event) -> None:
        """Queue ``event``; blocks only while the buffer is full, raising Pushback after ``max_block_s``."""
        core, key, body = self._core, event.record_key().encode(), self._encode(event)
        if core.try_add(key, body) != FULL:
            return
        deadline = time.monotonic() + self.options.max_block_s
        core.push_open_batches()
        while core.try_add(key, body) == FULL:
            with core.room:
                while core.full():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _pushback(self.options)
                    core.room.wait(remaining)

    def flush(self) -> None:
        """Return once every event emitted so far is acknowledged; raise if any was not deliverable."""
        self._call(self._core.flush())

    def close(self) -> None:
        """Flush, disconnect and stop the background thread; emitting afterwards is an error."""
        if not self._thread.is_alive():
            return
        try:
            self._call(self._core.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncEmitter:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
