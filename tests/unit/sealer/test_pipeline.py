"""Group commit: batches decoded while a block is written are merged into the next block."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from provledger.events.rows import EventRow
from provledger.sealer.core import Prepared, fresh_records
from provledger.sealer.intake import Rejected, Screened, SourceRecord
from provledger.sealer.pipeline import GroupCommitter, merge

TP = ("events", 0)


def _batch(offsets: list[int], tp: tuple[str, int] = TP, rejected: tuple[int, ...] = ()) -> Prepared:
    """One event per offset, except the offsets in ``rejected``, which were dead-lettered."""
    screened = []
    for o in offsets:
        record = SourceRecord(tp[0], tp[1], o, None, None, f"{tp}{o}".encode())
        if o in rejected:
            screened.append(Screened(record, [], Rejected(record, "undecodable", "test")))
        else:
            event_id = str(uuid.UUID(int=o + 1))
            event = EventRow(event_id, b"c", b"h" * 32, 0, "COMPLETE", "r", None, "n", "j", (), (), o)
            screened.append(Screened(record, [event]))
    return Prepared(tp, screened, len(offsets), sum(len(s.record.value or b"") for s in screened))


def _offsets(screened: list[Screened]) -> tuple[list[int], list[int], list[int]]:
    return (
        [s.record.offset for s in screened],
        [e.source_offset for s in screened for e in s.events],
        [s.record.offset for s in screened if s.rejected is not None],
    )


def test_merge_gives_one_batch_per_partition_holding_its_batches_in_the_order_taken() -> None:
    other = ("events", 1)
    merged = merge([_batch([0, 1]), _batch([5], other), _batch([2, 3], rejected=(3,)), _batch([6], other)])
    assert [m.tp for m in merged] == [TP, other]
    assert _offsets(merged[0].screened) == ([0, 1, 2, 3], [0, 1, 2], [3])
    assert _offsets(merged[1].screened) == ([5, 6], [5, 6], [])
    assert [(m.events, m.value_bytes) for m in merged] == [
        (4, sum(p.value_bytes for p in (_batch([0, 1]), _batch([2, 3])))),
        (2, sum(p.value_bytes for p in (_batch([5], other), _batch([6], other)))),
    ]


def test_the_offset_rule_keeps_the_first_copy_of_a_replayed_offset_in_offset_order() -> None:
    first, replay = _batch([3, 4], rejected=(4,)), _batch([2, 3, 4])  # the consumer sought back to 2
    fresh = fresh_records(merge([first, replay])[0].screened, 0)
    assert _offsets(fresh) == ([2, 3, 4], [2, 3], [4])
    assert fresh[1] is first.screened[0]


def test_the_offset_rule_drops_what_is_sealed_and_keeps_gaps_kafka_has() -> None:
    batch = _batch([5, 1, 2, 2, 3, 7])
    assert _offsets(fresh_records(batch.screened, 2))[0] == [2, 3, 5, 7]
    assert fresh_records(batch.screened, 8) == []


class _Writes:
    """A commit function that records what it is given and holds each write until released."""

    def __init__(self) -> None:
        self.written: list[list[Prepared]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()
        self.error: BaseException | None = None

    async def __call__(self, batches: list[Prepared]) -> None:
        self.written.append(batches)
        self.started.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error

    def offsets(self) -> list[list[int]]:
        return [[s.record.offset for b in write for s in b.screened] for write in self.written]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_first_batch_is_written_at_once_and_batches_during_a_write_join_the_next() -> None:
    writes = _Writes()
    writes.release.clear()
    committer = GroupCommitter(writes, interval_s=0, max_pending_events=1000)
    await committer.submit([_batch([0])])
    await writes.started.wait()
    await committer.submit([_batch([1])])
    await committer.submit([_batch([2, 3])])
    assert writes.offsets() == [[0]]
    writes.release.set()
    await _settle()
    assert writes.offsets() == [[0], [1, 2, 3]]
    await committer.close()


async def test_writes_wait_for_the_interval_unless_the_pending_events_reach_the_limit() -> None:
    writes = _Writes()
    committer = GroupCommitter(writes, interval_s=60, max_pending_events=4)
    await committer.submit([_batch([0])])
    await _settle()
    await committer.submit([_batch([1, 2])])
    await _settle()
    assert writes.offsets() == [[0]], "the interval has not passed: the batch waits"
    await committer.submit([_batch([3, 4])])  # four events pending: written now, and submit waits for it
    assert writes.offsets() == [[0], [1, 2, 3, 4]]
    await committer.close()


async def test_writes_wait_for_the_interval_unless_the_pending_record_bytes_reach_the_limit() -> None:
    """A refused record counts one event whatever its size: its bytes bound the pending batches too."""
    writes = _Writes()
    size = _batch([0]).value_bytes
    committer = GroupCommitter(writes, interval_s=60, max_pending_events=1000, max_pending_bytes=3 * size)
    await committer.submit([_batch([0], rejected=(0,))])
    await _settle()
    await committer.submit([_batch([1], rejected=(1,))])
    await _settle()
    assert writes.offsets() == [[0]], "the interval has not passed and one record's bytes wait"
    await committer.submit([_batch([2, 3], rejected=(2, 3))])  # three records' bytes: written now
    assert writes.offsets() == [[0], [1, 2, 3]]
    await committer.close()


async def test_a_failed_write_is_raised_by_the_next_submit() -> None:
    writes = _Writes()
    writes.error = RuntimeError("constraint violated")
    committer = GroupCommitter(writes, interval_s=0, max_pending_events=1000)
    await committer.submit([_batch([0])])
    await _settle()
    with pytest.raises(RuntimeError, match="constraint violated"):
        await committer.submit([_batch([1])])
    await committer.close()


async def test_close_cancels_the_write_in_flight() -> None:
    writes = _Writes()
    writes.release.clear()
    committer = GroupCommitter(writes, interval_s=0, max_pending_events=1000)
    await committer.submit([_batch([0])])
    await writes.started.wait()
    await committer.close()
    writes.release.set()
    await committer.submit([_batch([1])])  # a new write starts; the cancelled one raised nothing
    await _settle()
    assert writes.offsets() == [[0], [1]]
    await committer.close()


async def test_a_full_submit_returns_once_its_batch_is_being_written_so_the_next_is_decoded_meanwhile() -> (
    None
):
    writes = _Writes()
    writes.release.clear()
    committer = GroupCommitter(writes, interval_s=60, max_pending_events=2)
    await committer.submit([_batch([0, 1])])  # full: written at once
    assert writes.offsets() == [[0, 1]]
    assert not writes.release.is_set(), "returned while the write is still held"
    submitted = asyncio.ensure_future(committer.submit([_batch([2, 3])]))
    await _settle()
    assert not submitted.done(), "a second full batch waits while the first is written"
    writes.release.set()
    await submitted
    assert writes.offsets() == [[0, 1], [2, 3]]
    await committer.close()


async def test_forgetting_revoked_partitions_drops_their_pending_batches_only() -> None:
    writes = _Writes()
    writes.release.clear()
    committer = GroupCommitter(writes, interval_s=0, max_pending_events=1000)
    other = ("events", 1)
    await committer.submit([_batch([0])])
    await writes.started.wait()
    await committer.submit([_batch([1]), _batch([7], other)])
    committer.forget([TP])
    writes.release.set()
    await _settle()
    assert [[b.tp for b in write] for write in writes.written] == [[TP], [other]]
    await committer.close()
