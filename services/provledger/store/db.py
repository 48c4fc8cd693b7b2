"""Connections to the ledger database: one type for a connection or a pooled one, and how to open them.

Both openers raise :class:`ServiceUnavailable`, with what to check, when Postgres is away or
refuses us (:mod:`provledger.store.unavailable` decides which errors those are).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from provledger.store.unavailable import unavailable_as_service_error

#: What every store function takes: a plain connection, or one borrowed from a pool.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

CONNECT_TIMEOUT_S = 10.0

_CONNECTING = "cannot connect to the ledger database"


async def keep_session(conn: asyncpg.Connection[Any]) -> None:
    """What provledger's pools do to a connection handed back, beyond rolling back a transaction: nothing.

    asyncpg's default is a reset query at every release (advisory locks, cursors, ``LISTEN``,
    ``RESET ALL``): one more round trip for each borrowed connection, 1.5% of the sealer's CPU
    samples under bench_hostile, where a block borrows one several times. No provledger code
    leaves state on a pooled session (no ``SET``, ``LISTEN`` or session advisory lock: the
    anchorer's lock has a connection of its own), so there is nothing to reset. asyncpg still
    rolls back a transaction left open before it calls this.
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    """A connection pool, or :class:`ServiceUnavailable` naming what to check."""
    with unavailable_as_service_error(_CONNECTING):
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S, reset=keep_session
        )
    assert pool is not None
    return pool


async def connect(dsn: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> asyncpg.Connection[Any]:
    """One connection, for a command's single session, or :class:`ServiceUnavailable` naming what to check."""
    with unavailable_as_service_error(_CONNECTING):
        return await asyncpg.connect(dsn, timeout=timeout_s)


async def ping(conn: Conn, timeout_s: float) -> None:
    """Run the cheapest query on ``conn`` within ``timeout_s`` (or raise): what readiness probes ask."""
    await conn.execute("SELECT 1", timeout=timeout_s)
