"""OpenLineage ingest: ``POST /api/v1/lineage`` (one RunEvent) and ``/api/v1/lineage/batch``.

Accepts exactly what the OpenLineage HTTP transport sends: a JSON RunEvent, optionally with
``Content-Encoding: gzip`` (its ``compression: gzip`` option). Each RunEvent is validated with
:func:`provledger.events.openlineage.from_openlineage` and published, as its RFC 8785 bytes keyed
by run id, to the OpenLineage topic the sealer consumes; the answer is 201 only after the broker
acknowledged every record, listing the event id assigned to each. A batch (a JSON array of
RunEvents, or ``{"events": [...]}``) is all or nothing: if any event is invalid, none is
published and the 400 lists the reason for each invalid one, so the client fixes and resends.

Who submitted: the name of the request's token is sealed with each event as the attribute
``provledger.submitter`` (:func:`~provledger.events.openlineage.with_submitter`); a RunEvent that
names a submitter itself is invalid (``reserved_attribute``). A token limited to some job
namespaces (``provledger tokens create --namespaces``) may post only events of those: any other
is refused with 403 ``namespace-not-allowed``, and in a batch one such event refuses the whole
request (all or nothing, as for invalid events), the problem's ``errors`` naming each one's index
and namespace. The namespace check comes first: a 403 says nothing about whether the events were
valid, and the client learns that once it posts them with a token that may.

Nothing a client sends can stop the API: a body is refused before it costs more than the bounds
of :mod:`provledger.api.body` (size on the wire and inflated, one gzip member, JSON structure),
and a body over 64 KiB is parsed and validated in a worker thread, in one of a few slots
(:mod:`provledger.api.gate`), so ``/healthz`` and reads keep answering meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import Scope

from provledger import logs
from provledger.api import models
from provledger.api.auth import emit_token, emitter
from provledger.api.body import body_text, json_items, json_value, read_body
from provledger.api.gate import LargeBodies, pause_for_loop
from provledger.api.observe import ApiMetrics
from provledger.api.problems import ProblemError, ProblemItem, responses
from provledger.api.publisher import LineagePublisher
from provledger.api.tokens import TokenEntry
from provledger.config import ApiSettings
from provledger.errors import InvalidEvent
from provledger.events.model import Event
from provledger.events.openlineage import from_openlineage

_log = logs.get_logger(__name__)

router = APIRouter(
    tags=["openlineage"],
    responses=responses(400, 401, 403, 413, 415, 503),
)

#: Where RunEvents are posted, one at a time (the OpenLineage HTTP transport's path) or in batches.
INGEST_PATH: Final = "/api/v1/lineage"
BATCH_PATH: Final = "/api/v1/lineage/batch"
#: Most RunEvents in one batch request.
MAX_BATCH_EVENTS: Final = 1000
#: Reason of an event outside its token's namespaces (and the label it is counted under).
NAMESPACE_NOT_ALLOWED: Final = "namespace_not_allowed"
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


@dataclass(frozen=True, slots=True)
class _Submission:
    """What validating a body needs besides the body: who posts it, and the record limit."""

    token: TokenEntry
    max_bytes: int


@dataclass(frozen=True, slots=True)
class _Validated:
    """What a body held: the events to publish, or the reason for each refused one."""

    events: list[Event]
    problems: list[ProblemItem]
    forbidden: list[ProblemItem]
    count: int


def _event(document: Any, submission: _Submission) -> Event:
    """The event of one parsed RunEvent; InvalidEvent with the reason if it is not one.

    Any other error that data can cause (ValueError, OverflowError, KeyError...) is a RunEvent
    the mapping failed to refuse with a reason (a bug to fix there): it is refused as
    ``unreadable`` and logged, since a 500 would invite the client to resend it, and publishing
    it could stop the sealer.
    """
    if not isinstance(document, dict):
        raise InvalidEvent("bad_type", f"a RunEvent is a JSON object, not {type(document).__name__}")
    try:
        return from_openlineage(document, submission.max_bytes, submitter=submission.token.name)
    except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError, RecursionError) as exc:
        _log.warning("RunEvent refused without a reason", error=repr(exc)[:300], exc_info=True)
        raise InvalidEvent("unreadable", f"the RunEvent cannot be read ({type(exc).__name__})") from None


def _validate(documents: Iterable[Any], prefix: str, submission: _Submission) -> _Validated:
    """Validate each document as it comes; at most :data:`MAX_BATCH_EVENTS` (413 past it).

    The record limit bounds each event: each RunEvent is published as one record of its RFC 8785
    bytes, so a larger one would only be dead-lettered. An event outside the token's namespaces
    is set aside as forbidden.
    """
    token = submission.token
    events, problems, forbidden, count = [], [], [], 0
    for count, document in enumerate(documents, 1):
        if count > MAX_BATCH_EVENTS:
            raise ProblemError(
                413,
                "batch-too-large",
                f"more than {MAX_BATCH_EVENTS} RunEvents in one batch; send at most that",
            )
        where = prefix.format(count - 1)
        try:
            event = _event(document, submission)
        except InvalidEvent as exc:
            problems.append(ProblemItem(location=where, reason=exc.reason, detail=exc.detail))
        else:
            if token.may_emit_to(event.job.namespace):
                events.append(event)
            else:
                forbidden.append(_outside(token, event, where))
        pause_for_loop()
    return _Validated(events, problems, forbidden, count)


def _outside(token: TokenEntry, event: Event, where: str) -> ProblemItem:
    namespace = event.job.namespace
    detail = f"job namespace {namespace!r:.120} is not one token {token.name!r} may emit to"
    return ProblemItem(location=where, reason=NAMESPACE_NOT_ALLOWED, detail=detail)


def _drain(items: list[Any]) -> Iterator[Any]:
    """Each item, dropped from ``items`` as it is handed out, so it is freed once validated."""
    items.reverse()
    while items:
        yield items.pop()


def _one(submission: _Submission, body: bytearray) -> _Validated:
    """Parse and validate the body of ``POST /api/v1/lineage`` (in a worker thread if large)."""
    return _validate([json_value(body_text(body))], "body", submission)


def _batch(submission: _Submission, body: bytearray) -> _Validated:
    """Parse and validate the body of ``POST /api/v1/lineage/batch`` (in a worker thread if large).

    An array is parsed and validated one RunEvent at a time, so only one is held as objects.
    """
    text = body_text(body)
    documents = json_items(text)
    if documents is None:
        document = json_value(text)
        if not isinstance(document, dict) or not isinstance(document.get("events"), list):
            raise _not_a_batch()
        documents = _drain(document["events"])
    validated = _validate(documents, "events[{}]", submission)
    if validated.count == 0:
        raise _not_a_batch()
    return validated


def _not_a_batch() -> ProblemError:
    return ProblemError(
        400, "not-a-batch", 'a batch is a non-empty JSON array of RunEvents (or {"events": [...]})'
    )


def _not_allowed(token: TokenEntry, validated: _Validated) -> ProblemError:
    """The 403 of a body holding events outside the token's namespaces, naming each and the fix."""
    forbidden = validated.forbidden
    allowed = ", ".join(sorted(token.namespaces or ()))
    return ProblemError(
        403,
        "namespace-not-allowed",
        f"token {token.name!r} may emit only to job namespaces [{allowed}]; {len(forbidden)} of "
        f"{validated.count} RunEvents are for others and nothing was accepted: "
        + "; ".join(f"{item.location}: {item.detail}" for item in forbidden[:5])
        + ". Post them with a token for their namespace (an operator creates one with "
        "`provledger tokens create --scopes emit --namespaces <namespace>`)",
        errors=forbidden,
    )


async def _ingest(
    request: Request, token: TokenEntry, parse: Callable[[_Submission, bytearray], _Validated]
) -> JSONResponse:
    """Read, validate and publish: inline for a small body, in a slot and a worker thread for a large one.

    The body is not kept once parsed (only the events, whose canonical bytes are what gets
    published), so a slot holds the body, then its events, not both at the peak of each.
    """
    settings: ApiSettings = request.app.state.settings
    gate: LargeBodies = request.app.state.large_bodies
    metrics: ApiMetrics = request.app.state.metrics
    async with gate.admission() as admission:
        validated = await admission.run(
            parse,
            _Submission(token, settings.max_record_bytes),
            await read_body(request, settings.max_ingest_bytes, admission.acquire),
        )
        for problem in validated.problems + validated.forbidden:
            metrics.rejected.labels(problem.reason).inc()
        if validated.forbidden:
            raise _not_allowed(token, validated)
        if validated.problems:
            problems = validated.problems
            raise ProblemError(
                400,
                "invalid-run-events",
                f"{len(problems)} of {validated.count} RunEvents are invalid and nothing was accepted: "
                + "; ".join(f"{p.location}: {p.reason}: {p.detail}" for p in problems[:5]),
                errors=problems,
            )
        events = validated.events
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


_ACCEPTED_LINKS: Final = models.links(
    201,
    GetRun=("get_run", {"run_id": "$response.body#/accepted/0/run_id"}),
    GetEvent=("get_event", {"event_id": "$response.body#/accepted/0/event_id"}),
)


@router.post(
    INGEST_PATH,
    status_code=201,
    response_model=models.IngestOut,
    openapi_extra=_RUN_EVENT_BODY,
    responses=_ACCEPTED_LINKS,
)
async def post_lineage(request: Request, token: Annotated[TokenEntry, Depends(emitter)]) -> JSONResponse:
    """Ingest one OpenLineage RunEvent (what the OpenLineage HTTP transport posts)."""
    return await _ingest(request, token, _one)


@router.post(
    BATCH_PATH,
    status_code=201,
    response_model=models.IngestOut,
    openapi_extra=_BATCH_BODY,
    responses=_ACCEPTED_LINKS,
)
async def post_lineage_batch(
    request: Request, token: Annotated[TokenEntry, Depends(emitter)]
) -> JSONResponse:
    """Ingest several RunEvents at once, all or nothing."""
    return await _ingest(request, token, _batch)


def front_routes() -> list[Route]:
    """Both ingest paths as plain Starlette routes, to put ahead of every other route of the app.

    Ingest is the API's hot path, for OpenLineage clients (the transport posts every event) and
    for hostile ones: FastAPI's router and request handling (matching against ~100 routes,
    dependency solving, two exit stacks per request) cost a refused RunEvent ~1.7x the CPU of a
    plain route first in line (``benchmarks/bench_refusals.py``). The endpoints above stay
    FastAPI's, which documents them in OpenAPI from their signatures; these routes call them with
    the token :func:`~provledger.api.auth.emitter` gives, and errors reach the app's handlers as
    before.
    """
    return [
        _FrontRoute(INGEST_PATH, _served(post_lineage), methods=["POST"], name="ingest_front"),
        _FrontRoute(BATCH_PATH, _served(post_lineage_batch), methods=["POST"], name="ingest_batch_front"),
    ]


class _FrontRoute(Route):
    """A plain route that names itself in the scope as FastAPI's routes do: metrics label by its path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def _served(
    endpoint: Callable[[Request, TokenEntry], Awaitable[JSONResponse]],
) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def serve(request: Request) -> JSONResponse:
        return await endpoint(request, await emit_token(request))

    return serve
