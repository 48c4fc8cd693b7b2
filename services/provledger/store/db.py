"""Connections to the ledger database: one type for a connection or a pooled one, and the pool."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from provledger.errors import ServiceUnavailable

#: What every store function takes: a plain connection, or one borrowed from a pool.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

CONNECT_TIMEOUT_S = 10.0


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    """A connection pool, or :class:`ServiceUnavailable` naming what to check."""
    try:
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ServiceUnavailable(
            f"cannot connect to the ledger database ({exc!r}): check PROVLEDGER_DATABASE_URL and that "
            "Postgres is up, then run `provledger migrate`"
        ) from exc
    assert pool is not None
    return pool
