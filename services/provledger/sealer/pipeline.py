"""Group commit: whatever is decoded while a block is being written goes into the next block.

A block costs a dozen round trips to Postgres whatever its size, so writing one block per
``take_events`` batch spends most of Postgres on per-block work when records are small (a few
events each, as a live emitter sends them). As Tessera and Sunlight sequence on a timer, the
sealer writes at most once per ``interval_s``: batches decoded in between wait and are merged
into one block per shard, the way a database's group commit turns many small transactions into
one flush. The first batch after a quiet spell is written at once.

Batches are taken and decoded without waiting for writes until ``max_pending_events`` wait;
then they are written as soon as the write in flight ends, and taking pauses until that write
has them: at most one write in flight and one full set pending, which bounds memory while the
next batch is decoded during each write (a backlog of 1000-event records is always past the
limit, so it is sealed with decoding and writing overlapped, one batch per block).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from provledger import logs
from provledger.errors import ConfigurationError
from provledger.sealer.core import Prepared, TopicPartition

_log = logs.get_logger(__name__)

Commit = Callable[[list[Prepared]], Awaitable[None]]
#: Most bytes of record values the pending batches may hold before they are written.
MAX_PENDING_BYTES = 32 << 20


def merge(batches: Sequence[Prepared]) -> list[Prepared]:
    """One :class:`Prepared` per partition, holding its batches' records in the order taken.

    Nothing is filtered here: which of them a block takes (in offset order, each offset once,
    none already sealed) is :func:`~provledger.sealer.core.fresh_records`'s one rule, applied
    when the block is sealed.
    """
    merged: dict[TopicPartition, Prepared] = {}
    for batch in batches:
        into = merged.get(batch.tp)
        if into is None:
            merged[batch.tp] = Prepared(batch.tp, list(batch.screened), batch.events, batch.value_bytes)
        else:
            into.screened += batch.screened
            into.events += batch.events
            into.value_bytes += batch.value_bytes
    return list(merged.values())


class GroupCommitter:
    """Writes batches in the order they were submitted, merging those that queued meanwhile.

    A write never fails on data: the sealer waits out outages, and splits a block Postgres
    refuses until the records at fault are found and dead-lettered (:mod:`.core`). A write that
    fails all the same is a bug: it is logged and counted at once
    (``provledger_sealer_unexpected_failures``) and raised by the next :meth:`submit`, which
    crashes the agent; Faust's supervisor restarts it, and the restarted agent finds each
    shard's place in Postgres again (the sealer seeks the consumer back to the first record
    not committed), so the records of the failed write are sealed, not skipped.
    """

    def __init__(
        self,
        commit: Commit,
        interval_s: float,
        max_pending_events: int,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self._commit = commit
        self._interval_s = interval_s
        self._max_pending = max_pending_events
        self._max_pending_bytes = max_pending_bytes
        self._pending: list[Prepared] = []
        self._pending_events = 0
        self._pending_bytes = 0
        self._full = asyncio.Event()
        self._taken = asyncio.Event()
        self._last_write = -float("inf")
        self._writing: asyncio.Task[None] | None = None

    async def submit(self, batch: list[Prepared]) -> None:
        """Queue a decoded batch; while the pending batches are full, wait until a write takes them."""
        self._pending += batch
        self._pending_events += _events(batch)
        self._pending_bytes += _bytes(batch)
        writing = self._ensure_writing()
        while self._is_full():
            self._full.set()
            self._taken.clear()
            taken = asyncio.ensure_future(self._taken.wait())
            try:
                await asyncio.wait((taken, writing), return_when=asyncio.FIRST_COMPLETED)
            finally:
                taken.cancel()
            writing = self._ensure_writing()

    def forget(self, partitions: Sequence[TopicPartition]) -> None:
        """Drop the pending batches of revoked partitions: their next owner seals them from Postgres's offset.

        Written anyway, they would only lose the compare-and-set on the shard head to that owner.
        """
        revoked = set(partitions)
        self._pending = [p for p in self._pending if p.tp not in revoked]
        self._pending_events = _events(self._pending)
        self._pending_bytes = _bytes(self._pending)

    async def close(self) -> None:
        """Stop writing; a write cut short rolls back whole, and Postgres says where to resume."""
        if self._writing is not None:
            self._writing.cancel()
            await asyncio.gather(self._writing, return_exceptions=True)

    def _ensure_writing(self) -> asyncio.Task[None]:
        if self._writing is None or self._writing.done():
            self._raise_failure()
            self._writing = asyncio.create_task(self._write_pending())
            self._writing.add_done_callback(_log_failure)
        return self._writing

    async def _write_pending(self) -> None:
        while self._pending:
            await self._until_due()
            batches, self._pending, self._pending_events, self._pending_bytes = self._pending, [], 0, 0
            self._taken.set()
            self._last_write = time.monotonic()
            await self._commit(merge(batches))

    async def _until_due(self) -> None:
        """Wait until ``interval_s`` after the last write began, or until the pending batches are full."""
        self._full.clear()
        remaining = self._last_write + self._interval_s - time.monotonic()
        if remaining > 0 and not self._is_full():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), remaining)

    def _is_full(self) -> bool:
        """``max_pending_events`` decoded, or ``max_pending_bytes`` of record values held.

        Events alone do not bound memory: a refused record counts one whatever its size, and a
        flood of 1 MiB records waiting to be dead-lettered once held the sealer at 827 MiB.
        """
        return self._pending_events >= self._max_pending or self._pending_bytes >= self._max_pending_bytes

    def _raise_failure(self) -> None:
        writing = self._writing
        if writing is not None and writing.done() and not writing.cancelled():
            error = writing.exception()
            if error is not None:
                raise error


def _events(batches: Sequence[Prepared]) -> int:
    return sum(p.events for p in batches)


def _bytes(batches: Sequence[Prepared]) -> int:
    return sum(p.value_bytes for p in batches)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and isinstance(task.exception(), ConfigurationError):
        return  # the sealer stands down (a retired key): the app logs why, no bug to report
    if not task.cancelled() and task.exception() is not None:
        _log.error(
            "writing blocks failed unexpectedly (a bug, not the data); the agent restarts at its next "
            "batch and resumes from Postgres",
            error=repr(task.exception()),
        )
