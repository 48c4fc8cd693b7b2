"""Runs and inference records as a few lines of ML code: the events are built here.

A run is one execution of a job. Its context manager emits START on entry and, on exit,
COMPLETE with every artifact the run ``used`` and ``produced``; FAIL with the exception's type
(``error.type``) when the body raises; ABORT when it is interrupted (KeyboardInterrupt,
cancellation). The exception always propagates. Only the type is recorded, not the message,
which may quote data.

An inference record holds digests only: the model's, and the digests (or, with a salt the
caller keeps, the HMAC commitments; see :mod:`provledger.emit.artifacts`) of the request's input
and of the prediction. Raw inputs and outputs never leave the process.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Generic, TypeVar

from provledger.events import ArtifactRef, Event, EventType, Job, Run

Attributes = Mapping[str, str]
#: How a recorder hands an event to its emitter: a blocking call, or a coroutine function.
EmitT = TypeVar("EmitT", Callable[[Event], None], Callable[[Event], Awaitable[None]])


class RunRecorder(Generic[EmitT]):
    """What a run has used and produced so far, and the events that say so."""

    def __init__(
        self,
        emit: EmitT,
        job: Job,
        producer: str,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> None:
        self._emit: EmitT = emit
        self.job = job
        self.run = Run(run_id or str(uuid.uuid4()), parent_run_id)
        self.producer = producer
        self.inputs: list[ArtifactRef] = []
        self.outputs: list[ArtifactRef] = []
        self.attributes: dict[str, str] = dict(attributes or {})

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def used(self, *artifacts: ArtifactRef) -> None:
        """Record inputs of the run; they go out with COMPLETE (or FAIL)."""
        self.inputs.extend(artifacts)

    def produced(self, *artifacts: ArtifactRef) -> None:
        """Record outputs of the run; they go out with COMPLETE."""
        self.outputs.extend(artifacts)

    def set_attribute(self, key: str, value: str) -> None:
        """Attach a key/value (a metric, a hyperparameter, a git commit) to the closing event."""
        self.attributes[key] = value

    def event(
        self,
        event_type: EventType,
        *,
        inputs: Iterable[ArtifactRef] = (),
        outputs: Iterable[ArtifactRef] = (),
        attributes: Attributes | None = None,
    ) -> Event:
        """An event of this run, now."""
        return Event.new(
            event_type,
            job=self.job,
            run=self.run,
            producer=self.producer,
            inputs=inputs,
            outputs=outputs,
            attributes={**self.attributes, **(attributes or {})},
        )

    def start_event(self) -> Event:
        return self.event(EventType.START, inputs=self.inputs)

    def end_event(self, error: BaseException | None) -> Event:
        """COMPLETE, FAIL or ABORT, carrying everything recorded."""
        if error is None:
            return self.event(EventType.COMPLETE, inputs=self.inputs, outputs=self.outputs)
        failed = isinstance(error, Exception)
        return self.event(
            EventType.FAIL if failed else EventType.ABORT,
            inputs=self.inputs,
            outputs=self.outputs if failed else (),
            attributes={"error.type": f"{type(error).__module__}.{type(error).__qualname__}"},
        )


class SyncRunRecorder(RunRecorder[Callable[[Event], None]]):
    """A run emitting through a blocking emitter: ``with emitter.run(...) as run:``."""

    def running(self, *, outputs: Iterable[ArtifactRef] = (), attributes: Attributes | None = None) -> None:
        """Emit RUNNING now, e.g. for a checkpoint or an evaluation during training."""
        self._emit(self.event(EventType.RUNNING, outputs=outputs, attributes=attributes))

    def __enter__(self) -> SyncRunRecorder:
        self._emit(self.start_event())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._emit(self.end_event(error))


class AsyncRunRecorder(RunRecorder[Callable[[Event], Awaitable[None]]]):
    """A run emitting through an asyncio emitter: ``async with emitter.run(...) as run:``."""

    async def running(
        self, *, outputs: Iterable[ArtifactRef] = (), attributes: Attributes | None = None
    ) -> None:
        """Emit RUNNING now, e.g. for a checkpoint or an evaluation during training."""
        await self._emit(self.event(EventType.RUNNING, outputs=outputs, attributes=attributes))

    async def __aenter__(self) -> AsyncRunRecorder:
        await self._emit(self.start_event())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._emit(self.end_event(error))
