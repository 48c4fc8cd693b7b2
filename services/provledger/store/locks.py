"""Session-level advisory locks: how one replica of a service becomes the only active one.

A session-level advisory lock belongs to the connection that took it and ends with it, so a
replica that dies gives the lock up as soon as Postgres sees its connection gone. The caller
keeps a dedicated connection for the lock (a pooled one would hand the lock to whoever borrows
the connection next).
"""

from __future__ import annotations

from typing import Any

import asyncpg


async def try_advisory_lock(conn: asyncpg.Connection[Any], name: str, query_timeout_s: float) -> bool:
    """Take the lock keyed by ``hashtext(name)`` if no other session holds it."""
    taken: bool = await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtext($1))", name, timeout=query_timeout_s
    )
    return taken


async def holds_advisory_lock(conn: asyncpg.Connection[Any], name: str, query_timeout_s: float) -> bool:
    """Whether this session holds the lock keyed by ``hashtext(name)``."""
    held: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND pid = pg_backend_pid() AND objid = hashtext($1)::oid)",
        name,
        timeout=query_timeout_s,
    )
    return held
