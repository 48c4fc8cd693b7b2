"""Errors on Marquez's paths in Marquez's shape, ``{code, message, details}``, and 405 for writes.

The rest of the API answers RFC 9457 problems (:mod:`provledger.api.problems`); Marquez's web UI
reads ``code``, ``message`` and ``details`` of a failed request's body, so the routes of
:mod:`provledger.api.marquez_routes` use :class:`MarquezRoute`, which turns every error a
handler or its dependencies raise (authorisation, parameter validation, a database outage,
anything unexpected) into that shape with the same status and headers a problem would carry.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.convertors import PathConvertor, register_url_convertor

from provledger import logs
from provledger.api.auth import read_access
from provledger.api.marquez_models import MarquezError
from provledger.api.problems import RETRY_AFTER_S, ProblemError
from provledger.errors import InvalidRequest, ServiceUnavailable, VerificationError


class _AnyPath(PathConvertor):
    """Starlette's ``path`` convertor, newlines included: a Marquez path with ``%0A`` in a name
    missed its route under ``.*`` and got the API's generic 404 problem, not Marquez's error."""

    regex = "(?s:.*)"


#: The convertor of paths under Marquez's prefixes: ``{rest:marquez_path}``.
register_url_convertor("marquez_path", _AnyPath())

#: Methods a read path refuses (``405``), besides the ingest ``POST /api/v1/lineage``.
WRITE_METHODS: Final = ("POST", "PUT", "PATCH", "DELETE")

_log = logs.get_logger(__name__)


def marquez_error(
    status: int, message: str, details: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A response with Marquez's error body."""
    body = MarquezError(code=status, message=message, details=details)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


class MarquezError4xx(Exception):
    """Raise in a Marquez handler to answer ``status`` with ``message`` (what to do next)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _validation(exc: RequestValidationError) -> JSONResponse:
    items = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
    return marquez_error(400, f"fix the request parameters at {where}", "; ".join(items))


def as_marquez(exc: Exception, path: str) -> JSONResponse:
    """The Marquez error answering ``exc`` (each kind mapped as :mod:`.problems` maps it)."""
    if isinstance(exc, MarquezError4xx):
        return marquez_error(exc.status, exc.message)
    if isinstance(exc, ProblemError):
        return marquez_error(exc.status, exc.detail, headers=exc.headers)
    if isinstance(exc, RequestValidationError):
        return _validation(exc)
    if isinstance(exc, InvalidRequest):
        return marquez_error(400, str(exc))
    if isinstance(exc, ServiceUnavailable):
        _log.warning("service unavailable", path=path, error=str(exc))
        return marquez_error(503, str(exc), headers={"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(exc, asyncpg.DataError):
        return marquez_error(400, f"the database cannot hold a value of this request ({exc}); fix it")
    if isinstance(exc, VerificationError):
        _log.error("stored ledger data failed a check", path=path, error=str(exc))
        return marquez_error(
            500, f"stored ledger data failed a check ({exc}); an operator should run `provledger audit`"
        )
    _log.exception("unhandled error", path=path)
    return marquez_error(500, "the API failed unexpectedly; the error is logged with this path")


class MarquezRoute(APIRoute):
    """An API route whose errors, its dependencies' included, answer in Marquez's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every error becomes a Marquez error body; see as_marquez
                return as_marquez(exc, request.url.path)

        return answer


def refusing_writes(paths: Iterable[str], *, ingest: str | None = None) -> APIRouter:
    """Routes refusing writes on Marquez's read paths (405) and unknown reads under its prefixes (404).

    provledger's history is sealed, so nothing on these paths can be written; any other ``GET``
    under ``/api/v1`` or ``/api/v2beta`` is a 404 in Marquez's shape, as its UI reads errors.

    ``ingest`` is the one path whose ``POST`` is provledger's OpenLineage ingest: its ``POST``
    is left to the ingest router. No token is needed to be told no.
    """
    router = APIRouter(route_class=MarquezRoute)

    async def refuse(request: Request) -> Response:
        allow = "GET, POST" if request.url.path == ingest else "GET"
        return marquez_error(
            405,
            f"{request.method} is not allowed on {request.url.path}: provledger serves Marquez's reads "
            "only, and sealed history never changes (send OpenLineage RunEvents to POST /api/v1/lineage)",
            headers={"Allow": allow},
        )

    async def unknown(request: Request) -> Response:
        return marquez_error(
            404,
            f"no Marquez endpoint at {request.url.path}: see /openapi.json (tag marquez) for those served",
        )

    for path in paths:
        methods = [m for m in WRITE_METHODS if not (m == "POST" and path == ingest)]
        router.add_api_route(path, refuse, methods=methods, include_in_schema=False, name=f"refuse_{path}")
    # Last: any other read under Marquez's prefixes is a 404 in Marquez's shape too.
    for prefix in ("/api/v1", "/api/v2beta"):
        router.add_api_route(f"{prefix}/{{rest:marquez_path}}", unknown, methods=["GET"],
                             include_in_schema=False, name=f"unknown_{prefix}")  # fmt: skip
    return router


def marquez_router() -> APIRouter:
    """A router of Marquez reads: the ``read`` scope (or public reads), errors in Marquez's shape."""
    documented = {"model": MarquezError, "description": "Marquez's error body"}
    return APIRouter(
        tags=["marquez"],
        dependencies=[Depends(read_access)],
        route_class=MarquezRoute,
        responses={status: documented for status in (400, 401, 403, 404, 503)},
    )
