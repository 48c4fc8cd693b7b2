"""Request metrics and the per-request time limit, as one pure ASGI middleware.

Latency is recorded per route template (``/v1/events/{event_id}``, never the raw path, so ids do
not explode the label set), method (from a fixed set) and status: every label has a bounded
number of values whatever clients send. A request that outlives ``request_timeout_s`` is
cancelled and answered 503 with the reason, so no client waits on a stuck dependency.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from provledger.api.problems import unavailable

#: The methods the API answers; any other method is counted as ``other``. A label taken from the
#: request as sent would let anyone grow the metrics without bound (a new series per made-up name).
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The API's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "provledger_api_request_seconds",
            "Time to answer an API request, by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingested = Counter(
            "provledger_api_openlineage_events_total",
            "OpenLineage RunEvents acknowledged by the broker.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "provledger_api_openlineage_rejected_total",
            "OpenLineage RunEvents refused as invalid, by reason.",
            ["reason"],
            registry=self.registry,
        )


class Observe:
    """Time every HTTP request, label it by route, and cut it off at ``timeout_s``."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, timeout_s: float) -> None:
        self.app = app
        self.metrics = metrics
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        responding = False

        async def observed_send(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status, responding = message["status"], True
            await send(message)

        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, receive, observed_send)
        except TimeoutError:
            if responding:
                raise
            response = unavailable(
                Request(scope),
                f"the request took longer than {self.timeout_s:g} s (PROVLEDGER_REQUEST_TIMEOUT_S) and was "
                "cancelled; a dependency is slow. Retry shortly",
            )
            await response(scope, receive, observed_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.latency.labels(template, method, str(status)).observe(time.perf_counter() - started)
