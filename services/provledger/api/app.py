"""The FastAPI application: settings, pool, publisher and tokens in its state; every router.

``create_app(settings)`` builds it; the lifespan opens the database pool (lazily connecting) and
closes it and the Kafka producer on shutdown. The lineage router (another part) is included when
its module is present.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI

from provledger.api import (
    anchors,
    events,
    health,
    ingest,
    ledger,
    lineage,
    marquez_routes,
    marquez_search,
    search,
    tlog,
    web,
)
from provledger.api.conn import create_api_pool
from provledger.api.gate import LargeBodies
from provledger.api.headers import SecurityHeaders
from provledger.api.marquez_errors import refusing_writes
from provledger.api.observe import ApiMetrics, Observe
from provledger.api.problems import install_handlers
from provledger.api.publisher import LineagePublisher
from provledger.api.tokens import TokenStore
from provledger.config import ApiSettings

DESCRIPTION = """\
Lineage, evidence and transparency-log reads of a provledger ledger, and OpenLineage ingest.

Errors are RFC 9457 problem details (`application/problem+json`). Reads need a bearer token with
the `read` scope unless the server runs with `PROVLEDGER_PUBLIC_READS=true`; ingest needs `emit`;
`/metrics` needs `admin`. Lists are paginated with `?cursor=` (the previous page's `next_cursor`)
and `?limit=` (default 100, at most 1000).
"""


def create_app(settings: ApiSettings) -> FastAPI:
    """The API for ``settings``; serve it with uvicorn (see :mod:`provledger.api.server`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_api_pool(settings)
        try:
            yield
        finally:
            app.state.large_bodies.close()
            await app.state.publisher.close()
            try:
                await asyncio.wait_for(app.state.pool.close(), settings.db_connect_timeout_s)
            except TimeoutError:
                app.state.pool.terminate()

    app = FastAPI(
        title="provledger",
        version=version("provledger"),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url=None,
        # operationId = the handler's name (get_shard, list_blocks...): stable and short, so the
        # OpenAPI links between operations (models.links) can name them.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings
    app.state.tokens = TokenStore(settings.tokens_file)
    app.state.metrics = ApiMetrics()
    app.state.publisher = LineagePublisher(settings)
    app.state.large_bodies = LargeBodies(settings.large_ingest_slots)
    app.state.explorer = web.StaticSite(web.static_root())
    install_handlers(app)
    for router in (
        events.router,
        ledger.router,
        anchors.router,
        tlog.router,
        ingest.router,
        health.router,
        lineage.router,
        search.router,
        marquez_routes.router,
        marquez_search.router,
        # Every other method on ingest's path: ingest's POST is served by the front routes.
        refusing_writes(marquez_routes.READ_PATHS + marquez_search.READ_PATHS, ingest=ingest.INGEST_PATH),
        web.router,
    ):
        app.include_router(router)
    # Ahead of every route, before the app serves anything: FastAPI builds its route caches lazily.
    app.router.routes[:0] = ingest.front_routes()
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Observe, metrics=app.state.metrics, timeout_s=settings.request_timeout_s)
    return app
