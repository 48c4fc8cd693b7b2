"""The witness's HTTP server: C2SP tlog-witness ``add-checkpoint`` and its monitoring read, on uvicorn.

Routes (the submission and monitoring prefixes are both the server's root):

=========================================  ===================================================
``POST /add-checkpoint``                    cosign a checkpoint (:meth:`Witness.add_checkpoint`)
``GET /<origin hash>/checkpoint``           the latest cosigned checkpoint of a log
``GET /healthz``, ``/readyz``, ``/metrics``  the process answers; its state answers; Prometheus
=========================================  ===================================================

A body longer than ``PROVLEDGER_WITNESS_MAX_BODY_BYTES`` is refused with 413 before it is
read (by its Content-Length) or as soon as it passes the limit while streaming, so no client
can make the witness hold more than that per request. The spec assigns no code to it.

When the state cannot be reached (its file fails, or its Postgres is away) the witness
answers 503 with the reason, and cosigns nothing: it never answers without its state.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from provledger import logs
from provledger.config import masked
from provledger.errors import ServiceUnavailable
from provledger.ledger.cosignature import cosigner
from provledger.ledger.keys import SigningKey, VerifierKey
from provledger.witness.protocol import ADD_CHECKPOINT_PATH
from provledger.witness.service import Answer, Witness, WitnessStore
from provledger.witness.settings import WitnessSettings
from provledger.witness.sqlite import SqliteWitnessStore

_log = logs.get_logger(__name__)


class OpenedStore(WitnessStore, Protocol):
    """A witness store the app opened and closes when the server stops."""

    async def close(self) -> None:
        """Release the file or the connections."""
        ...


#: Opens the witness's state when the server starts (the command chooses SQLite or Postgres).
StoreOpener = Callable[[], Awaitable[OpenedStore]]


class _TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or :class:`_TooLarge` once it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _unavailable(exc: ServiceUnavailable) -> Answer:
    """503 with the reason (what failed and what to check), so the submitting log knows to retry."""
    return Answer.text(503, f"the witness cannot reach its state, try again later: {exc}")


def _respond(answer: Answer) -> Response:
    # Set as a header, not a media_type: Starlette would append "; charset=utf-8" to any text/*
    # type, and SPEC: the 409 answer "MUST have a Content-Type of text/x.tlog.size".
    return Response(answer.body, answer.status, headers={"content-type": answer.content_type})


class WitnessApp:
    """The witness's routes around one :class:`Witness`, its state opened for the server's lifetime."""

    def __init__(
        self,
        key: SigningKey,
        logs: dict[str, tuple[VerifierKey, ...]],
        settings: WitnessSettings,
        open_store: StoreOpener | None = None,
    ) -> None:
        """``open_store`` defaults to the SQLite file of ``PROVLEDGER_WITNESS_STATE_FILE``."""
        self.key = key
        self.logs = logs
        self.settings = settings
        self.open_store = open_store or (lambda: SqliteWitnessStore.open(settings.witness_state_file))
        self.witness: Witness | None = None
        self.store: OpenedStore | None = None
        self.registry = CollectorRegistry()
        self.answers = Counter(
            "provledger_witness_answers",
            "add-checkpoint answers by HTTP status (200 cosigned, 409 stale old size, 422 inconsistent).",
            ["status"],
            registry=self.registry,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.store = store = await self.open_store()
        self.witness = Witness(self.key, self.logs, store)
        _log.info(
            "witness ready",
            verifier_key=cosigner(self.key).verifier_key_string(),
            logs=len(self.logs),
            state=type(store).__name__,
        )
        try:
            yield
        finally:
            await store.close()

    def _witness(self) -> Witness:
        if self.witness is None:
            raise ServiceUnavailable("the witness is still starting")
        return self.witness

    async def add_checkpoint(self, request: Request) -> Response:
        """SPEC: "The request MUST be an HTTP POST" (the route allows only POST: 405 otherwise)."""
        try:
            body = await read_body(request, self.settings.witness_max_body_bytes)
        except _TooLarge:
            answer = Answer.text(413, f"the body exceeds {self.settings.witness_max_body_bytes} bytes")
        else:
            try:
                answer = await self._witness().add_checkpoint(body)
            except ServiceUnavailable as exc:
                _log.error("witness state unavailable", error=str(exc))
                answer = _unavailable(exc)
        self.answers.labels(str(answer.status)).inc()
        return _respond(answer)

    async def checkpoint(self, request: Request) -> Response:
        """The latest cosigned checkpoint of the log whose origin hashes to the path."""
        try:
            return _respond(await self._witness().checkpoint(request.path_params["origin_hash"]))
        except ServiceUnavailable as exc:
            return _respond(_unavailable(exc))

    async def healthz(self, _request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, _request: Request) -> Response:
        try:
            if self.store is None:
                raise ServiceUnavailable("starting")
            await self.store.latest("")
        except ServiceUnavailable as exc:
            return PlainTextResponse(f"not ready: {exc}\n", 503)
        return PlainTextResponse("ready\n")

    async def metrics(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def routes(self) -> list[Route]:
        """The witness's routes; a benchmark may serve more beside them."""
        return [
            Route(ADD_CHECKPOINT_PATH, self.add_checkpoint, methods=["POST"]),
            Route("/{origin_hash:str}/checkpoint", self.checkpoint, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]


def create_app(witness_app: WitnessApp, extra_routes: list[Route] | None = None) -> Starlette:
    """The ASGI app serving ``witness_app``'s routes (and ``extra_routes``, for benchmarks)."""
    return Starlette(routes=[*witness_app.routes(), *(extra_routes or [])], lifespan=witness_app.lifespan)


def server(settings: WitnessSettings, app: Starlette) -> uvicorn.Server:
    """A uvicorn server for ``app`` at the configured address."""
    config = uvicorn.Config(
        app,
        host=settings.witness_host,
        port=settings.witness_port,
        log_config=None,  # keep provledger's log format (provledger.logs)
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(
    settings: WitnessSettings,
    key: SigningKey,
    logs: dict[str, tuple[VerifierKey, ...]],
    open_store: StoreOpener | None = None,
) -> int:
    """Serve until SIGINT or SIGTERM (uvicorn's handlers); the exit status of ``provledger witness``."""
    _log.info("starting witness", settings=masked(settings))
    server(settings, create_app(WitnessApp(key, logs, settings, open_store))).run()
    return 0
