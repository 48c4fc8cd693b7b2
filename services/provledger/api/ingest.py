"""OpenLineage ingest: ``POST /api/v1/lineage`` (one RunEvent) and ``/api/v1/lineage/batch``.

Accepts exactly what the OpenLineage HTTP transport sends: a JSON RunEvent, optionally with
``Content-Encoding: gzip`` (its ``compression: gzip`` option). Each RunEvent is validated with
:func:`provledger.events.openlineage.from_openlineage` and published, as its RFC 8785 bytes keyed
by run id, to the OpenLineage topic the sealer consumes; the answer is 201 only after the broker
acknowledged every record, listing the event id assigned to each. A batch (a JSON array of
RunEvents, or ``{"events": [...]}``) is all or nothing: if any event is invalid, none is
published and the 400 lists the reason for each invalid one, so the client fixes and resends.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from provledger.api import models
from provledger.api.auth import emit_access
from provledger.api.observe import ApiMetrics
from provledger.api.problems import ProblemError, ProblemItem, responses
from provledger.api.publisher import LineagePublisher
from provledger.config import ApiSettings
from provledger.errors import InvalidEvent
from provledger.events.model import Event
from provledger.events.openlineage import from_openlineage, load_json

router = APIRouter(
    tags=["openlineage"],
    dependencies=[Depends(emit_access)],
    responses=responses(400, 401, 403, 413, 415, 503),
)

#: Most RunEvents in one batch request.
MAX_BATCH_EVENTS: Final = 1000
_RUN_EVENT_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "description": "OpenLineage RunEvent"}}
        },
    }
}
_BATCH_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": "RunEvents as an array, or an object with an events array",
                    "oneOf": [
                        {"type": "array", "items": {"type": "object"}},
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "items": {"type": "object"}}},
                        },
                    ],
                }
            }
        },
    }
}


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413, "too-large", f"the body is larger than {limit} bytes (after decompression): send smaller batches"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped if ``Content-Encoding: gzip``, refusing more than ``limit`` bytes."""
    chunks, received = [], 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise ProblemError(
            415, "unsupported-encoding", f"Content-Encoding {encoding!r} is not supported: send gzip or none"
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ProblemError(
            400, "bad-gzip", f"the body is not valid gzip ({exc}): check the client's compression"
        ) from None
    if len(plain) > limit:
        raise _too_large(limit)
    if not inflater.eof:
        raise ProblemError(
            400, "bad-gzip", "the gzip body is truncated: the client sent an incomplete stream"
        )
    return plain


def _validate(documents: list[Any], prefix: str) -> tuple[list[Event], list[ProblemItem]]:
    events, problems = [], []
    for position, document in enumerate(documents):
        where = prefix.format(position)
        try:
            events.append(from_openlineage(document if isinstance(document, dict) else json.dumps(document)))
        except InvalidEvent as exc:
            problems.append(ProblemItem(location=where, reason=exc.reason, detail=exc.detail))
    return events, problems


async def _publish(request: Request, documents: list[Any], prefix: str) -> JSONResponse:
    metrics: ApiMetrics = request.app.state.metrics
    events, problems = _validate(documents, prefix)
    for problem in problems:
        metrics.rejected.labels(problem.reason).inc()
    if problems:
        raise ProblemError(
            400,
            "invalid-run-events",
            f"{len(problems)} of {len(documents)} RunEvents are invalid and nothing was accepted: "
            + "; ".join(f"{p.location}: {p.reason}: {p.detail}" for p in problems[:5]),
            errors=problems,
        )
    publisher: LineagePublisher = request.app.state.publisher
    await publisher.publish([(e.run.run_id.encode(), e.openlineage or b"") for e in events])
    metrics.ingested.inc(len(events))
    body = models.IngestOut(
        accepted=[
            models.AcceptedEvent(event_id=e.event_id, run_id=e.run.run_id, event_type=e.event_type.value)
            for e in events
        ]
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=201)


def _json(body: bytes) -> Any:
    try:
        return load_json(body)
    except InvalidEvent as exc:
        raise ProblemError(
            400,
            "malformed-json",
            f"the body is not JSON ({exc.detail}); send a RunEvent as application/json",
            errors=[ProblemItem(location="body", reason=exc.reason, detail=exc.detail)],
        ) from None


@router.post(
    "/api/v1/lineage", status_code=201, response_model=models.IngestOut, openapi_extra=_RUN_EVENT_BODY
)
async def post_lineage(request: Request) -> JSONResponse:
    """Ingest one OpenLineage RunEvent (what the OpenLineage HTTP transport posts)."""
    settings: ApiSettings = request.app.state.settings
    return await _publish(request, [_json(await read_body(request, settings.max_ingest_bytes))], "body")


@router.post(
    "/api/v1/lineage/batch", status_code=201, response_model=models.IngestOut, openapi_extra=_BATCH_BODY
)
async def post_lineage_batch(request: Request) -> JSONResponse:
    """Ingest several RunEvents at once, all or nothing."""
    settings: ApiSettings = request.app.state.settings
    document = _json(await read_body(request, settings.max_ingest_bytes))
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        document = document["events"]
    if not isinstance(document, list) or not document:
        raise ProblemError(
            400, "not-a-batch", 'a batch is a non-empty JSON array of RunEvents (or {"events": [...]})'
        )
    if len(document) > MAX_BATCH_EVENTS:
        raise ProblemError(
            413, "batch-too-large", f"{len(document)} RunEvents in one batch; send at most {MAX_BATCH_EVENTS}"
        )
    return await _publish(request, document, "events[{}]")
