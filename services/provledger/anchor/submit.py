"""Hand stored statements to one anchor kind and store each receipt once, backing off while it fails.

Each kind runs on its own: one that is down (:class:`~provledger.errors.ServiceUnavailable`) or
answers with something that does not check out (:class:`~provledger.errors.VerificationError`)
is skipped for a growing number of ticks, counted in its failures metric, and never holds back
the others or the next statement. Nothing is lost: what a kind owes stays in the database
(:func:`provledger.store.anchors.awaiting_receipt`) until its receipt is stored, including after
a restart; and nothing stored is submitted again. A stateful kind (``evm``) that says a statement
is on its way (:class:`~provledger.errors.AnchorPending`) is neither failing nor done: it is asked
again next tick, with every statement it started and not finished, before newer ones.
"""

from __future__ import annotations

import time
from typing import Final

import asyncpg

from provledger import logs
from provledger.anchor.kinds import AnchorPending, AnyAnchorKind, StatefulAnchorKind
from provledger.anchor.metrics import AnchorerMetrics
from provledger.errors import ServiceUnavailable, VerificationError
from provledger.store import anchors

#: Most statements one kind is handed per tick: a kind back after a long outage catches up
#: over several ticks instead of holding one for minutes.
BACKLOG_PER_TICK: Final = 32
#: Longest wait before trying a failing kind again, in ticks.
MAX_BACKOFF_TICKS: Final = 32

_log = logs.get_logger(__name__)


class KindSubmitter:
    """One anchor kind with its backoff state: consecutive failures and the next time to try."""

    def __init__(self, kind: AnyAnchorKind, interval_s: float, metrics: AnchorerMetrics) -> None:
        self.kind = kind
        self.interval_s = interval_s
        self.metrics = metrics
        self.failures = 0
        self.next_try = 0.0

    def _failed(self, seq: int, exc: Exception) -> None:
        self.failures += 1
        ticks = min(2 ** (self.failures - 1), MAX_BACKOFF_TICKS)
        self.next_try = time.monotonic() + ticks * self.interval_s
        self.metrics.failures.labels(self.kind.name).inc()
        _log.warning(
            "anchor kind failed; retrying later",
            kind=self.kind.name,
            seq=seq,
            error=str(exc),
            retry_in_s=ticks * self.interval_s,
        )

    async def submit(self, pool: asyncpg.Pool, published_up_to: int) -> None:
        """Submit what this kind still owes, up to statement ``published_up_to``, unless backing off."""
        if time.monotonic() < self.next_try:
            return
        name = self.kind.name
        async with pool.acquire() as conn:
            owed = await anchors.awaiting_receipt(conn, name, published_up_to, BACKLOG_PER_TICK)
        if isinstance(self.kind, StatefulAnchorKind):
            owed = await _with_in_flight(self.kind, pool, owed, published_up_to)
        for statement in owed:
            try:
                if isinstance(self.kind, StatefulAnchorKind):
                    receipt = await self.kind.anchor(pool, statement.seq, statement.note)
                else:
                    receipt = await self.kind.publish(statement.note)
                if not isinstance(receipt, dict):
                    raise VerificationError(
                        f"anchor kind {name} returned {type(receipt).__name__}, not a dict"
                    )
            except AnchorPending as pending:
                # On its way: later statements may go on their way too, each in its turn.
                _log.debug("anchor pending", kind=name, seq=statement.seq, state=str(pending))
                continue
            except (ServiceUnavailable, VerificationError) as exc:
                self._failed(statement.seq, exc)
                return
            async with pool.acquire() as conn:
                stored = await anchors.insert_receipt(conn, statement.seq, name, receipt)
            self.failures = 0
            self.metrics.succeeded(name)
            _log.info("anchored", kind=name, seq=statement.seq, stored=stored)


async def _with_in_flight(
    kind: StatefulAnchorKind, pool: asyncpg.Pool, owed: list[anchors.StoredStatement], up_to: int
) -> list[anchors.StoredStatement]:
    """``owed`` and what ``kind`` started and has not finished, oldest first."""
    started = [seq for seq in await kind.in_flight(pool, up_to) if seq not in {s.seq for s in owed}]
    async with pool.acquire() as conn:
        found = [await anchors.statement(conn, seq) for seq in started]
    return sorted([*(s for s in found if s is not None), *owed], key=lambda s: s.seq)[:BACKLOG_PER_TICK]
