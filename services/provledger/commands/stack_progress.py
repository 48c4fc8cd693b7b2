"""The line ``provledger up`` prints while it runs: what the sealer has sealed so far, per shard.

It reads Postgres every few seconds and prints only when the line changed, so a quiet stack stays
quiet and a busy one shows it is sealing without scrolling the terminal away.
"""

from __future__ import annotations

import time

from rich.console import Console

from provledger.errors import ServiceUnavailable
from provledger.local.probes import run_blocking
from provledger.store.db import connect
from provledger.store.totals import sealed_per_shard
from provledger.store.unavailable import unavailable_as_service_error


async def sealed_summary(database_url: str) -> str:
    """One line: blocks and events sealed so far per shard, from Postgres."""
    conn = await connect(database_url)
    try:
        with unavailable_as_service_error("cannot read Postgres right now"):
            totals = await sealed_per_shard(conn)
    finally:
        await conn.close()
    if not totals:
        return "sealed: nothing yet (send events with `provledger emit` or the SDK)"
    shards = "; ".join(f"{t.topic}/{t.partition}: {t.blocks:,} blocks, {t.events:,} events" for t in totals)
    return f"sealed: {shards}"


class SealedProgress:
    """Prints the sealed-so-far line when it changes, at most every ``interval_s``."""

    def __init__(self, database_url: str, console: Console, interval_s: float) -> None:
        self._database_url = database_url
        self._console = console
        self._interval_s = interval_s
        self._next = 0.0
        self._last = ""

    def tick(self) -> None:
        """Called from ``up``'s loop: reads and prints when the interval has passed."""
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self._interval_s
        try:
            line = run_blocking(lambda: sealed_summary(self._database_url))
        except ServiceUnavailable as exc:
            line = f"sealed: {exc}"
        if line != self._last:
            self._console.print(line)
            self._last = line
