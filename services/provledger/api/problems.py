"""RFC 9457 problem details for every error the API returns, and the handlers that make them.

SPEC: RFC 9457 section 3: a problem is a JSON object of media type ``application/problem+json``
with ``type`` (a URI reference; here relative, ``/problems/<slug>``), ``title`` (the same for
every occurrence of the type), ``status``, ``detail`` ("a human-readable explanation specific
to this occurrence ... focused on helping the client correct the problem") and ``instance``.
Extension members used here: ``errors``, one entry per invalid parameter or event.

Every failure path ends in :class:`Problem`: raised :class:`ProblemError`, request validation,
unknown routes and methods, database and broker outages (503 with ``Retry-After``), and
anything unexpected (500, with no internals in the body). Each error class is mapped here and
only here; a database outage arrives as :class:`ServiceUnavailable`, converted where the API
meets Postgres (:func:`provledger.api.conn.connection`).
"""

from __future__ import annotations

from typing import Any, Final

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from provledger import logs
from provledger.errors import InvalidRequest, Pushback, ServiceUnavailable, VerificationError

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S: Final = 2

_log = logs.get_logger(__name__)


class ProblemItem(BaseModel):
    """One reason among several: an invalid parameter, or one invalid event of a batch."""

    location: str = Field(description="Where: a parameter path such as query.limit, or events[3].")
    reason: str = Field(description="Stable machine-readable code, e.g. missing_field.")
    detail: str = Field(description="What is wrong and how to fix it.")


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(description="URI reference naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, and what to do about it.")
    instance: str | None = Field(None, description="The request path this problem is about.")
    errors: list[ProblemItem] | None = Field(None, description="Each invalid parameter or event.")


_TITLES: Final = {
    400: "Bad request",
    401: "Authentication required",
    403: "Insufficient scope",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request parameters",
    500: "Internal server error",
    501: "Not implemented",
    503: "Service unavailable",
}


class ProblemError(Exception):
    """Raise to answer with a problem: ``slug`` names its type, ``detail`` says what to do."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: list[ProblemItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    request: Request,
    status: int,
    slug: str,
    detail: str,
    *,
    errors: list[ProblemItem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The problem as a response with the problem+json media type.

    The body is :class:`Problem`'s JSON written out directly (a test holds them equal): building
    the model only to dump it again was 2.7% of the API's CPU samples under bench_hostile's flood.
    """
    body: dict[str, object] = {
        "type": f"/problems/{slug}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = [{"location": e.location, "reason": e.reason, "detail": e.detail} for e in errors]
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def unavailable(request: Request, detail: str) -> JSONResponse:
    """A 503 telling the client what is down and when to retry."""
    return problem_response(request, 503, "unavailable", detail, headers={"Retry-After": str(RETRY_AFTER_S)})


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc.status, exc.slug, exc.detail, errors=exc.errors, headers=exc.headers)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [
        ProblemItem(location=_location(tuple(error["loc"])), reason=error["type"], detail=error["msg"])
        for error in exc.errors()
    ]
    where = ", ".join(item.location for item in items)
    return problem_response(
        request, 422, "invalid-parameters", f"fix the request parameters at {where}", errors=items
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        detail = (
            f"no endpoint at {request.url.path}: see /openapi.json for the paths this API serves"
            if exc.detail == "Not Found"
            else str(exc.detail)
        )
        return problem_response(request, 404, "not-found", detail)
    if exc.status_code == 405:
        return problem_response(
            request,
            405,
            "method-not-allowed",
            f"{request.method} is not allowed on {request.url.path}; see /openapi.json",
            headers=dict(exc.headers or {}),
        )
    return problem_response(request, exc.status_code, "http-error", str(exc.detail))


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, Pushback):  # load shed on purpose is not worth a warning
        _log.warning("service unavailable", path=request.url.path, error=str(exc), cause=repr(exc.__cause__))
    return unavailable(request, str(exc))


async def _on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, 400, "invalid-request", str(exc))


async def _on_integrity(request: Request, exc: Exception) -> JSONResponse:
    _log.error("stored ledger data failed a check", path=request.url.path, error=str(exc))
    return problem_response(
        request,
        500,
        "ledger-integrity",
        f"stored ledger data failed a check ({exc}); an operator should run `provledger audit`",
    )


async def _on_bad_value(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        request, 400, "invalid-value", f"the database cannot hold a value of this request ({exc}); fix it"
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error", path=request.url.path)
    return problem_response(
        request, 500, "internal", "the API failed unexpectedly; the error is logged with this path"
    )


def install_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem details response."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(ServiceUnavailable, _on_unavailable)
    app.add_exception_handler(InvalidRequest, _on_invalid_request)
    app.add_exception_handler(asyncpg.DataError, _on_bad_value)
    app.add_exception_handler(VerificationError, _on_integrity)
    app.add_exception_handler(Exception, _on_unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem bodies for ``statuses``."""
    return {
        status: {
            "model": Problem,
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
