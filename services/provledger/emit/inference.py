"""Inference records: which model answered which request, as digests, never the data itself.

One INFERENCE event per prediction. Its inputs are the model (kind ``model``, by digest) and the
request's input (kind ``input``); its output is the prediction (kind ``prediction``). The input
and prediction digests are plain SHA-256, or HMAC commitments when the caller passes a salt
(:func:`provledger.emit.artifacts.commitment`): then nobody can test a guess of the data
against the ledger, and the caller, who keeps the salt, can later prove what was asked and
answered. The record key is the model digest, so one model's predictions stay in order however
many replicas serve it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Generic

from provledger.emit.artifacts import bytes_digest, commitment
from provledger.emit.runs import EmitT
from provledger.events import ArtifactRef, Event, EventType, Job, Run

#: Attribute naming how input and prediction digests were made: ``sha256`` or ``hmac-sha256``.
DIGEST_METHOD = "digest.method"
REQUEST_ID = "request_id"


class InferenceRecorder(Generic[EmitT]):
    """Builds INFERENCE events for one model served by one process (its run)."""

    def __init__(
        self, emit: EmitT, model: ArtifactRef, job: Job, producer: str, *, run_id: str | None = None
    ) -> None:
        if model.kind != "model":
            raise ValueError(f"the model artifact must have kind 'model', not {model.kind!r}")
        self._emit: EmitT = emit
        self.model = model
        self.job = job
        self.producer = producer
        self.run = Run(run_id or str(uuid.uuid4()))

    def event(
        self,
        request_id: str,
        input: bytes,
        output: bytes,
        *,
        salt: bytes | None = None,
        attributes: dict[str, str] | None = None,
    ) -> Event:
        """The INFERENCE event of one prediction; ``input`` and ``output`` are digested here."""
        if salt is None:
            input_digest, output_digest, method = bytes_digest(input), bytes_digest(output), "sha256"
        else:
            input_digest, output_digest = commitment(input, salt), commitment(output, salt)
            method = "hmac-sha256"
        namespace = self.job.namespace
        return Event.new(
            EventType.INFERENCE,
            job=self.job,
            run=self.run,
            producer=self.producer,
            inputs=(self.model, ArtifactRef(namespace, f"request/{request_id}", input_digest, "input")),
            outputs=(ArtifactRef(namespace, f"prediction/{request_id}", output_digest, "prediction"),),
            attributes={**(attributes or {}), REQUEST_ID: request_id, DIGEST_METHOD: method},
        )


class SyncInferenceLogger(InferenceRecorder[Callable[[Event], None]]):
    """``logger.log(request_id, input=..., output=...)`` from blocking serving code."""

    def log(
        self,
        request_id: str,
        *,
        input: bytes,
        output: bytes,
        salt: bytes | None = None,
        attributes: dict[str, str] | None = None,
    ) -> None:
        """Record one prediction (digests only)."""
        self._emit(self.event(request_id, input, output, salt=salt, attributes=attributes))


class InferenceLogger(InferenceRecorder[Callable[[Event], Awaitable[None]]]):
    """``await logger.log(request_id, input=..., output=...)`` from asyncio serving code."""

    async def log(
        self,
        request_id: str,
        *,
        input: bytes,
        output: bytes,
        salt: bytes | None = None,
        attributes: dict[str, str] | None = None,
    ) -> None:
        """Record one prediction (digests only)."""
        await self._emit(self.event(request_id, input, output, salt=salt, attributes=attributes))
