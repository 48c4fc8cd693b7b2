"""The anchorer's Prometheus metrics, and the small HTTP server that exposes them.

``provledger_anchor_fork_detected`` is the one to alert on: 1 means the anchorer found a shard
whose log did not only grow, or a database whose statements disagree with what it published,
and anchors nothing until an operator restarts it. Per kind, the age of the last receipt says
whether that anchor still works (alert when it exceeds a few intervals); per witness, the age
of its last stored cosignature and its failures say the same of each tlog-witness.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest


class AnchorerMetrics:
    """Every metric the anchorer keeps, in a registry of its own."""

    def __init__(self, kinds: tuple[str, ...] = ()) -> None:
        self.registry = CollectorRegistry()
        self.fork_detected = Gauge(
            "provledger_anchor_fork_detected",
            "1 once a fork was found: anchoring stopped until an operator restarts the anchorer.",
            registry=self.registry,
        )
        self.active = Gauge(
            "provledger_anchor_active",
            "1 while this replica holds the anchorer lock.",
            registry=self.registry,
        )
        self.statements = Counter(
            "provledger_anchor_statements",
            "Shard-heads statements signed and stored.",
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "provledger_anchor_publish_failures",
            "Failed publications of a statement to the checkpoints topic (retried next tick).",
            registry=self.registry,
        )
        self.last_success = Gauge(
            "provledger_anchor_kind_last_success_timestamp_seconds",
            "When each anchor kind last returned a receipt that was stored (Unix time).",
            ["kind"],
            registry=self.registry,
        )
        self.last_success_age = Gauge(
            "provledger_anchor_kind_last_success_age_seconds",
            "Seconds since each anchor kind last returned a receipt (since start if never).",
            ["kind"],
            registry=self.registry,
        )
        self.failures = Counter(
            "provledger_anchor_kind_failures",
            "Submissions to an anchor kind that failed (down, or an answer that did not verify).",
            ["kind"],
            registry=self.registry,
        )
        self.witness_last_success_age = Gauge(
            "provledger_anchor_witness_last_success_age_seconds",
            "Seconds since each witness last returned a cosignature that verified and was stored "
            "(since start if never).",
            ["witness"],
            registry=self.registry,
        )
        self.witness_failures = Counter(
            "provledger_anchor_witness_failures",
            "add-checkpoint submissions to a witness that failed (down, refused, or a cosignature that "
            "did not verify).",
            ["witness"],
            registry=self.registry,
        )
        self.witness_cosignatures = Counter(
            "provledger_anchor_witness_cosignatures",
            "Shard checkpoint cosignatures each witness returned, verified and stored.",
            ["witness"],
            registry=self.registry,
        )
        self._started = started = time.time()
        self._last: dict[str, float] = {}
        self._witnessed: dict[str, float] = {}
        for kind in kinds:
            self.failures.labels(kind)
            self.last_success.labels(kind)
            self.last_success_age.labels(kind).set_function(
                lambda kind=kind: time.time() - self._last.get(kind, started)  # type: ignore[misc]
            )

    def watch_witness(self, witness: str) -> None:
        """Export ``witness``'s series from the start, so a witness that never answered shows."""
        self.witness_failures.labels(witness)
        self.witness_cosignatures.labels(witness)
        self.witness_last_success_age.labels(witness).set_function(
            lambda: time.time() - self._witnessed.get(witness, self._started)
        )

    def witnessed(self, witness: str) -> None:
        """Record a cosignature of ``witness`` stored now."""
        self._witnessed[witness] = time.time()
        self.witness_cosignatures.labels(witness).inc()

    def succeeded(self, kind: str) -> None:
        """Record a receipt of ``kind`` stored now."""
        self._last[kind] = now = time.time()
        self.last_success.labels(kind).set(now)


async def serve_metrics(metrics: AnchorerMetrics, port: int, ready: Callable[[], bool]) -> web.AppRunner:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` (ready: active or a healthy standby, no fork)."""

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        is_ready = ready()
        return web.json_response({"ready": is_ready}, status=200 if is_ready else 503)

    server = web.Application()
    server.add_routes([web.get("/metrics", scrape), web.get("/healthz", healthz), web.get("/readyz", readyz)])
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
