"""The sealer's loop body: one batch of source records in, blocks committed to Postgres out.

Independent of the stream framework: the Faust app (:mod:`.app`) feeds it batches and tells it
about rebalances; tests may feed it directly. Per shard it keeps a :class:`ShardLog` loaded from
Postgres, and throws it away whenever a write fails, so what it seals next always follows
exactly what is committed. Postgres is the source of truth for how far each shard is sealed:
which records a block takes is decided by one rule, :func:`fresh_records`; Kafka's own
committed offsets are never trusted.

Nothing in a record stops a shard. A write that fails on the block's values (:mod:`.failures`)
is narrowed: the batch's records are split in two contiguous halves, each sealed as a block of
its own, and a half that fails again is split again, until the one record that cannot be
written is found; it is dead-lettered as ``unsealable`` with the error, and its offset is
committed so it is never read again. Outages are waited out instead: they say nothing about
the records.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from provledger import logs
from provledger.errors import StaleShard
from provledger.events.rows import EventRow, SealedBlock, ShardState
from provledger.ledger.block import BlockHeader
from provledger.ledger.keys import SigningKey, TrustedKey
from provledger.sealer.deadletter import DeadLetterSink
from provledger.sealer.failures import Failure, classify, describe
from provledger.sealer.intake import Rejected, Screened, SourceRecord, dedupe, screen
from provledger.sealer.metrics import SealerMetrics
from provledger.sealer.shardlog import ShardLog

_log = logs.get_logger(__name__)

#: Seek forward instead of skipping when a partition replays more than this many sealed records.
FORWARD_SEEK_THRESHOLD = 1000
#: How long to wait, after seeking back to a missing offset, before accepting the gap as real.
GAP_WAIT_S = 10.0
#: Back-off between attempts while Postgres is unreachable.
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)
#: Longest stretch of decoding between two yields to the event loop, so a block being written
#: meanwhile (:meth:`Sealer.prepare` overlapping :meth:`Sealer.commit`) never waits long for it.
YIELD_EVERY_S = 0.005
#: The dead-letter reason of a record whose events Postgres refuses to hold (:mod:`.failures`).
UNSEALABLE = "unsealable"

TopicPartition = tuple[str, int]
Seek = Callable[[str, int, int], Awaitable[None]]
Clock = Callable[[], int]


def now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class SealerOptions:
    log_origin: str
    openlineage_topic: str
    max_record_bytes: int


@dataclass(slots=True)
class Prepared:
    """One partition's records of a batch, decoded and validated, as they arrived.

    ``events`` (events, plus one per refused record) and ``value_bytes`` are counted as the
    records are screened, so the group committer bounds what it holds without another pass.
    """

    tp: TopicPartition
    screened: list[Screened]
    events: int = 0
    value_bytes: int = 0


def fresh_records(screened: Iterable[Screened], next_offset: int) -> list[Screened]:
    """The records a shard seals next, in offset order: THE offset rule, applied here only.

    A shard seals each source offset once, in order, from its committed ``next_offset`` (read
    from Postgres) on. So a record is kept when its offset is at least ``next_offset`` and
    above every offset kept before it:

    * below the committed offset: sealed already (a replay after a restart or a rebalance);
    * a second copy of an offset (the consumer sought back while the first copy waited in the
      group committer): the first copy taken is kept, and the sort is stable, so it is the one
      that arrived first.

    What is kept may lack offsets: where Kafka has none, or where the consumer skipped some;
    :meth:`Sealer._fresh` seals up to the first one missing and waits for it.
    """
    fresh = []
    for item in sorted(screened, key=_offset):
        if item.record.offset >= next_offset:
            fresh.append(item)
            next_offset = item.record.offset + 1
    return fresh


def _offset(item: Screened) -> int:
    return item.record.offset


def _first_missing(fresh: list[Screened], next_offset: int) -> tuple[int | None, list[Screened]]:
    """The first offset from ``next_offset`` on that ``fresh`` (in offset order) lacks, if any,
    and the records before it."""
    for index, item in enumerate(fresh):
        if item.record.offset != next_offset + index:
            return next_offset + index, fresh[:index]
    return None, fresh


@dataclass(slots=True)
class _Gap:
    """A missing source offset the consumer was sought back to, until when to wait for it, and the
    lowest offset past it delivered since (where Kafka's records resume, if it never comes)."""

    offset: int
    deadline: float
    next_seen: int


class ShardStore(Protocol):
    """What the sealer needs from the ledger database (:class:`~.pgstore.PoolShardStore` over Postgres).

    Both writes are compare-and-sets on the shard's committed offset, raising
    :class:`~provledger.errors.StaleShard` when another sealer moved it first. Nothing is
    written when a call raises.
    """

    async def ensure_shard(self, topic: str, partition: int) -> int:
        """The shard number of ``topic``/``partition``, registered on first sight."""
        ...

    async def load_head(self, shard: int) -> ShardState:
        """Where the shard's log stands: enough to seal the next block."""
        ...

    async def block_header(self, shard: int, height: int) -> BlockHeader | None:
        """The header of the shard's block at ``height`` (its newest, for the log id and seal time)."""
        ...

    async def sealed_leaf_hashes(self, event_ids: list[str]) -> dict[str, bytes]:
        """Leaf hashes of those events already sealed on any shard, for deduplication."""
        ...

    async def write_block(self, block: SealedBlock, expected_offset: int) -> None:
        """Commit ``block`` and all it covers at once, moving the offset on from ``expected_offset``.

        Refused with a :class:`~provledger.errors.ConfigurationError` when the block's key is not
        the one the ledger registers for its ``sealed_at`` (a rotation retired it).
        """
        ...

    async def advance_offset(
        self, shard: int, expected: int, next_offset: int, *, missing_from_source: bool = False
    ) -> None:
        """Move the committed offset past records that leave nothing to seal (all dead-lettered), or,
        ``missing_from_source``, past offsets the source never delivered (a gap Kafka has)."""
        ...


class Sealer:
    """Seals batches of records from any partitions; safe against replays, zombies, outages and poison.

    ``validity`` is the key's registered range as the sealer found it at start
    (:func:`provledger.store.keys.check_signing_key`; None: no range known). Each block's
    ``sealed_at`` follows its predecessor's and lies in that range (:mod:`.shardlog`); a rotation
    made elsewhere since is caught by the store at the block's write. Either way the sealer
    raises :class:`~.shardlog.StandDown` (or the store's ``ConfigurationError``) and stops.
    """

    def __init__(
        self,
        store: ShardStore,
        key: SigningKey,
        options: SealerOptions,
        dead_letters: DeadLetterSink,
        seek: Seek,
        metrics: SealerMetrics | None = None,
        clock: Clock = now_micros,
        validity: TrustedKey | None = None,
    ) -> None:
        if validity is not None and validity.verifier != key.verifier:
            raise ValueError("validity must be the range of the sealer's own key")
        self._store = store
        self._key = key
        self._validity = validity
        self._options = options
        self._dead_letters = dead_letters
        self._seek = seek
        self.metrics = metrics or SealerMetrics()
        self._clock = clock
        self._logs: dict[TopicPartition, ShardLog] = {}
        self._shards: dict[TopicPartition, int] = {}
        self._sought: set[TopicPartition] = set()
        self._gaps: dict[TopicPartition, _Gap] = {}

    async def load(self, partitions: Sequence[TopicPartition]) -> None:
        """Load the heads of newly assigned partitions; the sealer is ready once this returns."""
        for tp in partitions:
            await self._with_retries(tp, self._head)
        self.metrics.ready.set(1)

    def observe_lag(self, tp: TopicPartition, highwater: int | None) -> None:
        """Record how many of the partition's records (up to ``highwater``) are not sealed yet."""
        log = self._logs.get(tp)
        if log is not None and highwater is not None:
            self.metrics.lag.labels(str(log.shard)).set(max(0, highwater - log.next_offset))

    def forget(self, partitions: Sequence[TopicPartition]) -> None:
        """Drop state of revoked partitions: whoever owns them next reloads from Postgres."""
        for tp in partitions:
            self._logs.pop(tp, None)
            self._sought.discard(tp)
            self._gaps.pop(tp, None)

    async def handle(self, records: Sequence[SourceRecord]) -> None:
        """Seal a batch: records are grouped by partition, each group becomes at most one block."""
        await self.commit(await self.prepare(records))

    async def prepare(self, records: Sequence[SourceRecord]) -> list[Prepared]:
        """Decode and validate a batch, by partition: the CPU half of sealing, needing no shard state.

        It yields to the event loop every few milliseconds, so the Faust agent can prepare the
        next batch while :meth:`commit` of the previous one waits on Postgres: decoding on this
        core overlaps the writes on the database's.
        """
        by_partition: dict[TopicPartition, Prepared] = {}
        openlineage_topic, max_bytes = self._options.openlineage_topic, self._options.max_record_bytes
        resumed = time.perf_counter()
        for record in records:
            tp = (record.topic, record.partition)
            batch = by_partition.get(tp)
            if batch is None:
                batch = by_partition[tp] = Prepared(tp, [])
            item = screen(record, openlineage_topic=openlineage_topic, max_bytes=max_bytes)
            batch.screened.append(item)
            batch.events += len(item.events) or 1
            batch.value_bytes += 0 if record.value is None else len(record.value)
            if time.perf_counter() - resumed > YIELD_EVERY_S:
                await asyncio.sleep(0)
                resumed = time.perf_counter()
        return list(by_partition.values())

    async def commit(self, prepared: Sequence[Prepared]) -> None:
        """Seal prepared batches, each partition's as at most one block, retrying until committed.

        Partitions are independent logs, so their blocks may be written at once, as many as the
        pool has connections (``write_connections``, 1 unless Postgres has cores to spare: blocks
        written at once contend for the same index pages); the others wait for a connection.
        """
        tasks = [
            asyncio.ensure_future(self._with_retries(batch.tp, functools.partial(self._seal, prepared=batch)))
            for batch in prepared
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def _with_retries(
        self, tp: TopicPartition, action: Callable[[TopicPartition], Awaitable[object]]
    ) -> None:
        """Run ``action`` until it succeeds: a lost race reloads the shard, an outage waits and retries.

        Anything else is a bug, not data (:meth:`_seal` narrows what the data causes), and is raised.
        """
        attempt = 0
        while True:
            try:
                await action(tp)
                return
            except Exception as exc:
                failure = classify(exc)
                self._logs.pop(tp, None)
                if failure is Failure.STALE:
                    self.metrics.stale.labels(str(self._shards.get(tp, -1))).inc()
                    _log.warning(
                        "another sealer sealed this shard first; reloading",
                        topic=tp[0],
                        partition=tp[1],
                        reason=str(exc),
                    )
                    continue
                if failure is not Failure.OUTAGE:
                    self.metrics.write_failures.inc()
                    raise
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                attempt += 1
                _log.warning(
                    "sealing failed, retrying",
                    topic=tp[0],
                    partition=tp[1],
                    attempt=attempt,
                    retry_in_s=delay,
                    error=repr(exc),
                )
                await asyncio.sleep(delay)

    async def _head(self, tp: TopicPartition) -> ShardLog:
        log = self._logs.get(tp)
        if log is None:
            shard = self._shards.get(tp)
            if shard is None:
                shard = self._shards[tp] = await self._store.ensure_shard(*tp)
            head = await self._store.load_head(shard)
            # Read after the head: a newer block than it would fail the write's compare-and-set.
            previous = (
                await self._store.block_header(shard, head.next_height - 1) if head.next_height else None
            )
            log = ShardLog(head, self._options.log_origin, previous)
            self._logs[tp] = log
            _log.info(
                "shard loaded",
                topic=tp[0],
                partition=tp[1],
                shard=shard,
                height=log.next_height,
                tree_size=log.tree_size,
                next_offset=log.next_offset,
            )
        return log

    async def _head_before(self, tp: TopicPartition, offset: int) -> ShardLog:
        """The shard's log, which must not be past ``offset`` yet.

        Narrowing reloads the head after each failed write; if another sealer took the shard
        over meanwhile and sealed on, the records left are its to judge, not ours.
        """
        log = await self._head(tp)
        if log.next_offset > offset:
            raise StaleShard(f"shard {log.shard} moved past offset {offset} while a batch of it was narrowed")
        return log

    async def _fresh(self, tp: TopicPartition, log: ShardLog, screened: list[Screened]) -> list[Screened]:
        """The records :func:`fresh_records` keeps, up to the first offset missing among them.

        The consumer is sought when it is far behind Postgres (forward) or when an offset is
        missing (back to it): before the first record, or between two. A consumer can be handed
        records past some it never got (the development broker passes over a batch produced
        alongside another: :mod:`provledger.local.kafka`), and aiokafka takes such a jump as a
        compacted topic's: bench_hostile lost five hostile records and 29 good events of one
        partition that way, with no error anywhere, before this rule, which holds the records
        past a missing offset back until it arrives. An offset still missing after
        :data:`GAP_WAIT_S` is Kafka's own gap (retention, compaction, or the commit markers of a
        transactional producer, which provledger's producers are not): it is counted and skipped.
        """
        fresh = fresh_records(screened, log.next_offset)
        if len(fresh) < len(screened) and tp not in self._sought:
            lowest = min(_offset(item) for item in screened)
            if log.next_offset - lowest > FORWARD_SEEK_THRESHOLD:  # replaying many sealed records
                self._sought.add(tp)
                await self._seek(tp[0], tp[1], log.next_offset)
        missing, contiguous = _first_missing(fresh, log.next_offset)
        if missing is None:
            if fresh:
                self._gaps.pop(tp, None)
            return fresh
        after = fresh[len(contiguous)].record.offset
        waiting = self._gaps.get(tp)
        if waiting is None or waiting.offset != missing:
            waiting = self._gaps[tp] = _Gap(missing, time.monotonic() + GAP_WAIT_S, after)
            _log.warning(
                "a source offset is missing; seeking back to it and holding the records after it",
                shard=log.shard,
                missing=missing,
                next_delivered=after,
            )
        waiting.next_seen = min(waiting.next_seen, after)
        if contiguous or time.monotonic() < waiting.deadline:
            # Sought at each batch held: Faust drops what is below the last offset it delivered, and
            # records fetched before the last seek still arrive after it and move that mark on.
            await self._seek(tp[0], tp[1], missing)
            return contiguous
        await self._skip_gap(tp, log, waiting)
        return await self._fresh(tp, log, screened)

    async def _skip_gap(self, tp: TopicPartition, log: ShardLog, gap: _Gap) -> None:
        """Commit the shard's offset past the offsets Kafka does not have, up to the first it has.

        That is the lowest offset delivered since the consumer was sought back to the gap, so a
        record held back meanwhile is read again, never skipped with the gap.
        """
        self.metrics.offset_gaps.labels(str(log.shard)).inc(gap.next_seen - gap.offset)
        _log.error(
            "source offsets never arrived (deleted by retention?); continuing after the gap",
            shard=log.shard,
            missing_from=gap.offset,
            missing_to=gap.next_seen - 1,
        )
        await self._store.advance_offset(log.shard, log.next_offset, gap.next_seen, missing_from_source=True)
        log.next_offset = gap.next_seen
        del self._gaps[tp]

    async def _seal(self, tp: TopicPartition, prepared: Prepared) -> None:
        log = await self._head(tp)
        fresh = await self._fresh(tp, log, prepared.screened)
        if not fresh:
            return
        sealed = await self._store.sealed_leaf_hashes([e.event_id for item in fresh for e in item.events])
        batch = dedupe(fresh, sealed)
        rejected = [item.rejected for item in fresh if item.rejected is not None] + batch.rejected
        await self._dead_letters.send(rejected)
        # What is accepted, rejected and dropped is decided once, here; narrowing only splits it.
        await self._seal_or_narrow(tp, [item.record for item in fresh], batch.accepted)
        self._count(rejected, batch.duplicates)

    async def _seal_or_narrow(
        self, tp: TopicPartition, records: list[SourceRecord], accepted: list[EventRow]
    ) -> None:
        """Seal ``records`` (contiguous, in offset order) as one block, or find the ones that cannot be.

        A write failing on its data is split into two contiguous halves, each sealed as a block
        of its own in order, so every block covers the offsets its events came from and the
        chain stays one line; a single record that still fails is dead-lettered. ``k`` bad
        records among ``n`` cost about ``2k log2(n)`` writes.
        """
        error = await self._try_block(tp, records, accepted)
        if error is None:
            return
        if len(records) == 1:
            await self._dead_letter_unsealable(tp, records[0], error)
            return
        shard = self._shards.get(tp, -1)
        self.metrics.narrowing_splits.labels(str(shard)).inc()
        middle = len(records) // 2
        split = records[middle].offset
        _log.warning(
            "a block could not be written; splitting its records to find the ones at fault",
            shard=shard,
            offsets=f"{records[0].offset}-{records[-1].offset}",
            split_at=split,
            error=repr(error),
        )
        await self._seal_or_narrow(tp, records[:middle], [a for a in accepted if a.source_offset < split])
        await self._seal_or_narrow(tp, records[middle:], [a for a in accepted if a.source_offset >= split])

    async def _try_block(
        self, tp: TopicPartition, records: list[SourceRecord], accepted: list[EventRow]
    ) -> Exception | None:
        """Write the block; the error if it failed on data (an unknown error: on its second try).

        Lost races and outages are raised: :meth:`_with_retries` handles them from the top,
        where whatever this batch had sealed before is found committed and skipped.
        """
        retried = False
        while True:
            try:
                await self._write(tp, records, accepted)
                return None
            except Exception as exc:
                failure = classify(exc)
                if failure is Failure.DATA or (failure is Failure.UNKNOWN and retried):
                    return exc
                if failure is not Failure.UNKNOWN:
                    raise
                retried = True
                _log.warning("a block write failed unexpectedly; trying once more", error=repr(exc))
                await asyncio.sleep(RETRY_DELAYS_S[0])

    async def _write(self, tp: TopicPartition, records: list[SourceRecord], accepted: list[EventRow]) -> None:
        """Commit ``accepted`` as the shard's next block covering ``records``, or only their offsets."""
        log = await self._head_before(tp, records[0].offset)
        expected_offset = log.next_offset
        if not accepted:
            await self._store.advance_offset(log.shard, expected_offset, records[-1].offset + 1)
            log.next_offset = records[-1].offset + 1
            return
        try:
            block = log.seal(
                accepted, records[0].offset, records[-1].offset, self._key, self._clock(), self._validity
            )
            await self._store.write_block(block, expected_offset)
        except BaseException:
            self._logs.pop(tp, None)  # memory ran ahead of Postgres: reload before sealing again
            raise
        self._observe(block.shard, block.header.height, accepted, records)

    async def _dead_letter_unsealable(
        self, tp: TopicPartition, record: SourceRecord, error: Exception
    ) -> None:
        """Send ``record`` (all its events) to the dead letters and commit its offset: the shard goes on."""
        await self._dead_letters.send([Rejected(record, UNSEALABLE, describe(error))])
        log = await self._head_before(tp, record.offset)
        await self._store.advance_offset(log.shard, log.next_offset, record.offset + 1)
        log.next_offset = record.offset + 1
        self.metrics.dead_letters.labels(UNSEALABLE).inc()
        self.metrics.unsealable.labels(str(log.shard)).inc()
        _log.error(
            "a record cannot be sealed; dead-lettered",
            shard=log.shard,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=repr(error),
        )

    def _observe(
        self, shard: int, height: int, accepted: Sequence[EventRow], fresh: list[SourceRecord]
    ) -> None:
        committed_us = self._clock()
        label = str(shard)
        self.metrics.events_sealed.labels(label).inc(len(accepted))
        self.metrics.blocks_sealed.labels(label).inc()
        self.metrics.batch_events.observe(len(accepted))
        self.metrics.latency_event_time.observe_many(
            [max(0, committed_us - event.event_time) / 1e6 for event in accepted]
        )
        committed_ms = committed_us / 1e3
        self.metrics.latency_kafka.observe_many(
            [max(0.0, committed_ms - r.timestamp_ms) / 1e3 for r in fresh if r.timestamp_ms is not None]
        )
        _log.debug("block sealed", shard=shard, height=height, events=len(accepted))

    def _count(self, rejected: Sequence[Rejected], duplicates: int) -> None:
        for item in rejected:
            self.metrics.dead_letters.labels(item.reason).inc()
        if duplicates:
            self.metrics.duplicates.inc(duplicates)
