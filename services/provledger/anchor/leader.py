"""One active anchorer per ledger: a Postgres session-level advisory lock on a connection of its own.

The lock belongs to the session that took it, so it ends when that session does: a replica that
crashes, is killed or loses its network gives it up as soon as Postgres sees the connection gone,
and a standby, retrying every interval, takes over. The active one asks before every tick whether
its session still holds the lock, and stands down if not, so two anchorers never both believe
they are active for longer than one tick; the statements' sequence number (a primary key) refuses
the second writer even then.
"""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from provledger import logs
from provledger.store.db import connect
from provledger.store.locks import holds_advisory_lock, try_advisory_lock
from provledger.store.unavailable import is_unavailable

#: Advisory lock key, by name: hashtext() of it, one per database, so one per ledger.
LOCK_NAME: Final = "provledger.anchorer"
#: A lock query unanswered after this means the session is as good as dead.
QUERY_TIMEOUT_S: Final = 5.0

_log = logs.get_logger(__name__)


class Leadership:
    """Takes and watches the anchorer's advisory lock on a dedicated connection."""

    def __init__(self, dsn: str, lock_name: str = LOCK_NAME) -> None:
        self.dsn = dsn
        self.lock_name = lock_name
        self._conn: asyncpg.Connection[Any] | None = None

    async def try_acquire(self) -> bool:
        """Take the lock if no other session holds it; False (a standby) if one does or Postgres is away."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await connect(self.dsn)
            taken = await try_advisory_lock(self._conn, self.lock_name, QUERY_TIMEOUT_S)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            _log.warning("cannot reach Postgres to take the anchorer lock; retrying", error=str(exc))
            await self.release()
            return False
        return taken

    async def still_held(self) -> bool:
        """Whether this session is alive and holds the lock (a dead connection holds nothing)."""
        if self._conn is None or self._conn.is_closed():
            return False
        try:
            held = await holds_advisory_lock(self._conn, self.lock_name, QUERY_TIMEOUT_S)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            await self.release()
            return False
        return held

    async def backend_pid(self) -> int | None:
        """The Postgres process holding the lock for us, for logs (and tests that end it)."""
        return None if self._conn is None or self._conn.is_closed() else self._conn.get_server_pid()

    async def release(self) -> None:
        """Close the session, which gives up the lock."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not conn.is_closed():
                conn.terminate()
