"""Database connections for request handlers, bounded in time so an outage is a 503, not a hang.

The pool (:func:`create_api_pool`) opens connections lazily, so the API starts while Postgres is
down and ``/readyz`` says why. Every session is read-only and carries ``statement_timeout``; the
client side adds ``command_timeout`` (a server that stops answering altogether) and a limit on
waiting for a connection. :func:`connection` is the API's one door to Postgres: there each of
those, and every other error :mod:`provledger.store.unavailable` calls unavailable, becomes
:class:`~provledger.errors.ServiceUnavailable`, which :mod:`provledger.api.problems` answers with
503 and ``Retry-After``. No route catches a database error itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from fastapi import Request

from provledger.api.deps import get_pool
from provledger.config import ApiSettings
from provledger.store.db import keep_session
from provledger.store.unavailable import unavailable_as_service_error


async def create_api_pool(settings: ApiSettings) -> asyncpg.Pool:
    """A pool of read-only sessions with the settings' timeouts; connects on first use."""
    pool = asyncpg.create_pool(
        settings.require_database_url(),
        min_size=0,
        max_size=settings.db_pool_max,
        timeout=settings.db_connect_timeout_s,
        command_timeout=settings.db_command_timeout_s,
        server_settings={
            "application_name": "provledger-api",
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(settings.db_statement_timeout_ms * 2),
            "default_transaction_read_only": "on",
        },
        reset=keep_session,
    )
    await pool  # with min_size=0 this opens no connection
    return pool


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[PoolConnectionProxy[Any]]:
    """A pooled connection, waiting at most ``db_connect_timeout_s`` for one.

    An unavailable database, while waiting for the connection or in the caller's block, raises
    :class:`~provledger.errors.ServiceUnavailable`.
    """
    settings: ApiSettings = request.app.state.settings
    with unavailable_as_service_error("cannot read the ledger database"):
        async with get_pool(request).acquire(timeout=settings.db_connect_timeout_s) as conn:
            yield conn
