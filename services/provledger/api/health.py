"""``/healthz`` (the process answers), ``/readyz`` (database and broker answer), ``/metrics``."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from provledger.api import models
from provledger.api.auth import admin_access, is_operator
from provledger.api.conn import connection
from provledger.api.observe import ApiMetrics
from provledger.api.problems import responses, unavailable
from provledger.api.publisher import LineagePublisher
from provledger.errors import ServiceUnavailable
from provledger.store.db import ping

router = APIRouter(tags=["operations"])

#: How long each readiness probe waits for its server.
PROBE_TIMEOUT_S: Final = 2.0


@router.get("/healthz", response_model=models.Health)
async def healthz() -> models.Health:
    """The process is up and serving (says nothing about its dependencies)."""
    return models.Health()


@router.get("/readyz", response_model=models.Ready, responses=responses(503))
async def readyz(request: Request, operator: bool = Depends(is_operator)) -> JSONResponse:
    """Ready when Postgres answers a query and the Kafka broker answers a metadata request.

    Probes call it without a token and need only the status. Why a dependency failed names
    servers, addresses and errors, which help an attacker map the network: only a request with
    an admin token gets them; anyone else learns which dependency does not answer.
    """
    problems = []
    try:
        async with connection(request) as conn:
            await ping(conn, PROBE_TIMEOUT_S)
    except ServiceUnavailable as exc:
        problems.append(str(exc) if operator else "the ledger database does not answer")
    publisher: LineagePublisher = request.app.state.publisher
    try:
        await publisher.check(PROBE_TIMEOUT_S)
    except ServiceUnavailable as exc:
        problems.append(str(exc) if operator else "the Kafka broker does not answer")
    if problems:
        more = "" if operator else " (an admin token gets the details)"
        return unavailable(request, "not ready: " + "; ".join(problems) + more)
    return JSONResponse(models.Ready(checks={"database": "ok", "broker": "ok"}).model_dump())


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(admin_access)],
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text."},
        **responses(401, 403),
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this API process (needs the admin scope)."""
    registry: ApiMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
