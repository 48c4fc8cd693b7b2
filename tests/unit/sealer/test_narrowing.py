"""The sealer against an in-memory store: what Postgres refuses is found and dead-lettered, nothing stops.

The fake store refuses any block holding an event of a poisoned job (as a CHECK constraint
would), and can be told to fail its next writes with given errors (an outage, a fluke). After
each test the shard must hold every good event exactly once, in offset order, in blocks that
chain and whose roots are the roots of the leaves; the offsets must be committed past every
record; and only the records at fault may be dead letters. The same store checks how the sealer
follows Postgres when the consumer replays, runs behind, or runs ahead of what is committed.
"""

from __future__ import annotations

import hashlib
import itertools
import types
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence

import asyncpg
import pytest
from tests.helpers import rfc9162_reference as ref

from provledger.errors import StaleShard
from provledger.events.rows import EventRow, SealedBlock, ShardState, TileRow
from provledger.ledger.block import BlockHeader, verify_chain
from provledger.ledger.compact import CompactRange
from provledger.ledger.keys import SigningKey
from provledger.ledger.tiles import partial_tile_coordinates
from provledger.sealer import core
from provledger.sealer.core import Prepared, Sealer, SealerOptions
from provledger.sealer.intake import Rejected, Screened, SourceRecord

KEY = SigningKey.generate("test.sealer")
TP = ("provledger.events", 0)
POISON = "poison"


class FakeStore:
    """An in-memory :class:`~provledger.sealer.core.ShardStore` with the same compare-and-sets."""

    def __init__(self, refuse: BaseException | None = None) -> None:
        #: What a block holding an event of job ``poison`` raises (None: such blocks are fine).
        self.refuse = refuse
        #: Raised by the next writes, one each, before the poison check (outages, flukes).
        self.next_failures: list[BaseException] = []
        self.write_attempts = 0
        #: Run before the write of that number (1 is the first): what happens meanwhile elsewhere.
        self.before_write: dict[int, Callable[[], object]] = {}
        self.shards: dict[tuple[str, int], int] = {}
        self.offsets: dict[int, int] = {}
        self.blocks: dict[int, list[SealedBlock]] = defaultdict(list)
        self.leaves: dict[str, bytes] = {}
        #: (shard, first, last) of each range passed as never delivered by the source.
        self.missing_from_source: list[tuple[int, int, int]] = []
        self._ranges: dict[int, CompactRange] = defaultdict(CompactRange)
        self._tiles: dict[tuple[int, int, int, int], TileRow] = {}

    async def ensure_shard(self, topic: str, partition: int) -> int:
        return self.shards.setdefault((topic, partition), len(self.shards))

    async def load_head(self, shard: int) -> ShardState:
        blocks, tree = self.blocks[shard], self._ranges[shard]
        return ShardState(
            shard=shard,
            next_height=len(blocks),
            prev_block_hash=blocks[-1].block_hash if blocks else b"\0" * 32,
            tree_size=tree.size,
            next_offset=self.offsets.get(shard, 0),
            frontier=tree.frontier,
            partial_tiles=tuple(
                self._tiles[(shard, level, index, width)]
                for level, index, width in partial_tile_coordinates(tree.size)
            ),
        )

    async def block_header(self, shard: int, height: int) -> BlockHeader | None:
        blocks = self.blocks[shard]
        return blocks[height].header if 0 <= height < len(blocks) else None

    async def sealed_leaf_hashes(self, event_ids: list[str]) -> dict[str, bytes]:
        return {event_id: self.leaves[event_id] for event_id in event_ids if event_id in self.leaves}

    async def write_block(self, block: SealedBlock, expected_offset: int) -> None:
        self.write_attempts += 1
        if self.write_attempts in self.before_write:
            self.before_write.pop(self.write_attempts)()
        if self.next_failures:
            raise self.next_failures.pop(0)
        if self.refuse is not None and any(e.job_name == POISON for e in block.events):
            raise self.refuse
        if block.header.height != len(self.blocks[block.shard]):
            raise StaleShard(f"shard {block.shard} already has a block at height {block.header.height}")
        self._advance(block.shard, expected_offset, block.next_offset)
        self.blocks[block.shard].append(block)
        self._ranges[block.shard].append([e.leaf_hash for e in block.events])
        self.leaves.update((e.event_id, e.leaf_hash) for e in block.events)
        self._tiles.update(((block.shard, t.tile_level, t.tile_index, t.width), t) for t in block.tiles)

    async def advance_offset(
        self, shard: int, expected: int, next_offset: int, *, missing_from_source: bool = False
    ) -> None:
        self._advance(shard, expected, next_offset)
        if missing_from_source:
            self.missing_from_source.append((shard, expected, next_offset - 1))

    def _advance(self, shard: int, expected: int, next_offset: int) -> None:
        if self.offsets.get(shard, 0) != expected:
            raise StaleShard(f"shard {shard} was no longer at offset {expected}")
        self.offsets[shard] = next_offset

    def sealed(self, shard: int = 0) -> list[EventRow]:
        return [event for block in self.blocks[shard] for event in block.events]

    def check_chain(self, shard: int = 0) -> list[BlockHeader]:
        """Heights 0, 1, ... linked by hash; each log root the root of the leaves so far; offsets in order."""
        headers = [block.header for block in self.blocks[shard]]
        verify_chain(headers)
        leaves = [event.leaf_hash for event in self.sealed(shard)]
        for header in headers:
            assert header.log_root == ref.mth(leaves[: header.tree_size])
        for block in self.blocks[shard]:
            assert all(
                block.header.first_offset <= e.source_offset <= block.header.last_offset for e in block.events
            )
        for before, after in itertools.pairwise(headers):
            assert after.first_offset > before.last_offset, "blocks overlap in source offsets"
        return headers


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[Rejected] = []

    async def send(self, rejected: Sequence[Rejected]) -> None:
        self.sent += rejected


class Seeks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    async def __call__(self, topic: str, partition: int, offset: int) -> None:
        self.calls.append((topic, partition, offset))


@pytest.fixture(autouse=True)
def _no_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "RETRY_DELAYS_S", (0.0,))


def _sealer(store: FakeStore) -> tuple[Sealer, DeadLetters, Seeks]:
    dead, seeks = DeadLetters(), Seeks()
    options = SealerOptions("test.example/ledger", "provledger.openlineage", 1 << 20)
    return Sealer(store, KEY, options, dead, seeks, clock=lambda: 1_700_000_000_000_000), dead, seeks


def _event(offset: int, index: int, job: str) -> EventRow:
    event_id = uuid.UUID(int=(offset << 16) + index + 1)
    leaf = hashlib.sha256(event_id.bytes).digest()
    return EventRow(str(event_id), b"canonical", leaf, offset, "COMPLETE", "run", None, "ns", job, (), (),
                    offset)  # fmt: skip


def _batch(offsets: Sequence[int], *, poisoned: Sequence[int] = (), events_per_record: int = 1) -> Prepared:
    """One record per offset of ``events_per_record`` events; a poisoned record's last event is poison."""
    screened = [
        Screened(
            SourceRecord(TP[0], TP[1], offset, None, b"run", b"value"),
            [_event(offset, i, POISON if offset in poisoned and i == events_per_record - 1 else "train")
             for i in range(events_per_record)],
        )
        for offset in offsets
    ]  # fmt: skip
    return Prepared(TP, screened, len(offsets) * events_per_record)


def _events(batch: Prepared) -> list[EventRow]:
    return [event for item in batch.screened for event in item.events]


def _good(batch: Prepared, poisoned: Sequence[int]) -> list[EventRow]:
    return [c for c in _events(batch) if c.source_offset not in poisoned]


REFUSALS = [
    asyncpg.exceptions.CheckViolationError("new row violates check constraint"),
    asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
    asyncpg.exceptions.ProgramLimitExceededError("index row size exceeds btree maximum"),
    OverflowError("date value out of range"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda e: type(e).__name__)
async def test_one_bad_record_among_many_is_dead_lettered_and_the_rest_sealed(refusal: Exception) -> None:
    store = FakeStore(refuse=refusal)
    sealer, dead, _ = _sealer(store)
    batch = _batch(range(20), poisoned=[7])
    await sealer.commit([batch])
    assert store.sealed() == _good(batch, [7])
    store.check_chain()
    assert store.offsets[0] == 20
    assert [(r.reason, r.record.offset) for r in dead.sent] == [("unsealable", 7)]
    assert type(refusal).__name__ in dead.sent[0].detail
    if isinstance(refusal, asyncpg.PostgresError):
        assert f"SQLSTATE {refusal.sqlstate}" in dead.sent[0].detail
    assert sealer.metrics.unsealable.labels("0")._value.get() == 1
    assert sealer.metrics.dead_letters.labels("unsealable")._value.get() == 1
    assert sealer.metrics.narrowing_splits.labels("0")._value.get() >= 1


@pytest.mark.parametrize(
    "poisoned",
    [[0], [19], [3, 4, 11], [0, 1, 2, 17, 18, 19], list(range(20))],
    ids=["first", "last", "several", "both ends", "all"],
)
async def test_every_bad_record_is_found_wherever_it_is(poisoned: list[int]) -> None:
    store = FakeStore(refuse=asyncpg.exceptions.CheckViolationError("check"))
    sealer, dead, _ = _sealer(store)
    batch = _batch(range(20), poisoned=poisoned)
    await sealer.commit([batch])
    assert store.sealed() == _good(batch, poisoned)
    store.check_chain()
    assert store.offsets[0] == 20
    assert [r.record.offset for r in dead.sent] == poisoned
    assert {r.reason for r in dead.sent} <= {"unsealable"}
    assert sealer.metrics.unsealable.labels("0")._value.get() == len(poisoned)


async def test_a_bad_record_goes_with_all_its_events_and_the_good_records_keep_their_order() -> None:
    store = FakeStore(refuse=asyncpg.exceptions.CharacterNotInRepertoireError("0x00"))
    sealer, dead, _ = _sealer(store)
    sealer_before = _batch(range(3), events_per_record=4)
    await sealer.commit([sealer_before])
    batch = _batch(range(3, 12), poisoned=[8], events_per_record=4)
    await sealer.commit([batch])
    sealed = store.sealed()
    assert sealed == _events(sealer_before) + _good(batch, [8])
    assert not any(e.source_offset == 8 for e in sealed), "the good events of the bad record go with it"
    headers = store.check_chain()
    assert headers[0].first_offset == 0
    covered = [(h.first_offset, h.last_offset) for h in headers]
    # Blocks and the dead letter cover every offset once: 0-2, then 3..11 without 8.
    offsets = sorted([o for first, last in covered for o in range(first, last + 1)] + [8])
    assert offsets == list(range(12))
    assert [r.record.offset for r in dead.sent] == [8]
    assert store.offsets[0] == 12


async def test_a_batch_after_a_dead_letter_seals_in_one_block_again() -> None:
    store = FakeStore(refuse=asyncpg.exceptions.CheckViolationError("check"))
    sealer, _, _ = _sealer(store)
    await sealer.commit([_batch(range(10), poisoned=[5])])
    blocks_before = len(store.blocks[0])
    await sealer.commit([_batch(range(10, 20))])
    assert len(store.blocks[0]) == blocks_before + 1
    store.check_chain()


@pytest.mark.parametrize(
    "outage",
    [
        ConnectionResetError("connection reset by peer"),
        TimeoutError(),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.InsufficientPrivilegeError("permission denied for table events"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.DiskFullError("could not extend file"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_an_outage_is_waited_out_never_narrowed(outage: Exception) -> None:
    store = FakeStore()
    store.next_failures = [outage, outage, outage]
    sealer, dead, _ = _sealer(store)
    batch = _batch(range(10))
    await sealer.commit([batch])
    assert len(store.blocks[0]) == 1, "sealed as the one block it was, once the outage passed"
    assert store.sealed() == _events(batch)
    assert store.write_attempts == 4
    assert dead.sent == []
    assert sealer.metrics.narrowing_splits.labels("0")._value.get() == 0


async def test_an_unknown_error_that_passes_on_retry_is_not_narrowed() -> None:
    store = FakeStore()
    store.next_failures = [RuntimeError("a fluke")]
    sealer, dead, _ = _sealer(store)
    batch = _batch(range(10))
    await sealer.commit([batch])
    assert len(store.blocks[0]) == 1
    assert store.sealed() == _events(batch)
    assert store.write_attempts == 2
    assert dead.sent == []


async def test_an_unknown_error_that_fails_again_is_narrowed() -> None:
    store = FakeStore(refuse=RuntimeError("something nobody anticipated"))
    sealer, dead, _ = _sealer(store)
    batch = _batch(range(10), poisoned=[4])
    await sealer.commit([batch])
    assert store.sealed() == _good(batch, [4])
    store.check_chain()
    assert [r.record.offset for r in dead.sent] == [4]
    assert "RuntimeError: something nobody anticipated" in dead.sent[0].detail


async def test_an_outage_while_narrowing_resumes_after_what_was_sealed() -> None:
    store = FakeStore(refuse=asyncpg.exceptions.CheckViolationError("check"))
    sealer, dead, _ = _sealer(store)
    batch = _batch(range(8), poisoned=[6])
    # The whole batch is refused, its good first half sealed, then the database goes away.
    store.before_write[3] = lambda: store.next_failures.append(ConnectionResetError())
    await sealer.commit([batch])
    assert store.sealed() == _good(batch, [6])
    store.check_chain()
    assert [r.record.offset for r in dead.sent] == [6]
    assert store.offsets[0] == 8


async def test_a_lost_race_while_narrowing_leaves_the_shard_to_its_new_owner() -> None:
    store = FakeStore(refuse=asyncpg.exceptions.CheckViolationError("check"))
    sealer, dead, _ = _sealer(store)
    batch = _batch(range(8), poisoned=[2])
    # The whole batch is refused; meanwhile another sealer takes the shard over and seals it all.
    store.before_write[2] = lambda: store.offsets.update({0: 8})
    await sealer.commit([batch])
    assert dead.sent == [], "the new owner decides about the records now"
    assert store.offsets[0] == 8, "the offset never goes back"
    assert sealer.metrics.stale.labels("0")._value.get() >= 1


# Replays, seeks and gaps: Postgres says where a shard resumes, whatever the consumer delivers.


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sealer's monotonic clock, which the test moves on."""
    clock = [1000.0]
    monkeypatch.setattr(core, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    return clock


def _resuming_at(offset: int) -> tuple[FakeStore, Sealer, DeadLetters, Seeks]:
    """A store whose shard is committed up to ``offset``, and a new sealer on it."""
    store = FakeStore()
    store.shards[TP] = 0
    store.offsets[0] = offset
    return (store, *_sealer(store))


async def test_records_below_the_committed_offset_are_skipped_without_a_seek() -> None:
    store, sealer, dead, seeks = _resuming_at(5)
    batch = _batch(range(2, 9))
    await sealer.commit([batch])
    assert [e.source_offset for e in store.sealed()] == [5, 6, 7, 8]
    assert store.blocks[0][0].header.first_offset == 5
    assert seeks.calls == []
    assert dead.sent == []


async def test_a_consumer_far_behind_is_sought_forward_once() -> None:
    store, sealer, _, seeks = _resuming_at(core.FORWARD_SEEK_THRESHOLD + 50)
    await sealer.commit([_batch(range(10))])
    await sealer.commit([_batch(range(10, 20))])
    assert seeks.calls == [(*TP, core.FORWARD_SEEK_THRESHOLD + 50)]
    assert store.sealed() == []


async def test_a_consumer_ahead_of_postgres_is_sought_back_and_seals_once_the_records_come() -> None:
    store, sealer, _, seeks = _resuming_at(3)
    ahead = _batch(range(6, 10))
    await sealer.commit([ahead])
    assert seeks.calls == [(*TP, 3)]
    assert store.sealed() == []
    replayed = _batch(range(3, 10))
    await sealer.commit([replayed])
    assert store.sealed() == _events(replayed)
    assert sealer.metrics.offset_gaps.labels("0")._value.get() == 0


async def test_a_gap_that_never_fills_is_sealed_past_once_the_wait_is_over(now: list[float]) -> None:
    store, sealer, _, seeks = _resuming_at(3)
    after_the_gap = _batch(range(6, 10))
    await sealer.commit([after_the_gap])
    now[0] += core.GAP_WAIT_S - 1
    await sealer.commit([after_the_gap])
    assert store.sealed() == [], "still waiting for offsets 3-5"
    now[0] += 1
    await sealer.commit([after_the_gap])
    assert seeks.calls == [(*TP, 3), (*TP, 3)], "sought back, and again while still waiting"
    assert store.sealed() == _events(after_the_gap)
    assert store.offsets[0] == 10
    assert store.missing_from_source == [(0, 3, 5)]
    assert sealer.metrics.offset_gaps.labels("0")._value.get() == 3


async def test_records_after_an_offset_the_consumer_skipped_wait_for_it() -> None:
    """A consumer that skips records mid-batch must not lose them: the block stops before the gap."""
    store, sealer, _, seeks = _resuming_at(0)
    skipped = _batch([*range(0, 5), *range(8, 12)])
    await sealer.commit([skipped])
    assert [e.source_offset for e in store.sealed()] == [0, 1, 2, 3, 4]
    assert seeks.calls == [(*TP, 5)]
    assert store.offsets[0] == 5
    await sealer.commit([skipped])  # copies fetched before the seek: still held, and sought again
    assert seeks.calls == [(*TP, 5), (*TP, 5)]
    replayed = _batch(range(5, 12))
    await sealer.commit([replayed])
    assert [e.source_offset for e in store.sealed()] == list(range(12))
    assert store.offsets[0] == 12
    assert sealer.metrics.offset_gaps.labels("0")._value.get() == 0


async def test_a_second_skipped_offset_is_sought_back_to_as_well() -> None:
    store, sealer, _, seeks = _resuming_at(0)
    await sealer.commit([_batch([0, 1, 3])])
    await sealer.commit([_batch([2, 3, 4, 6])])
    assert seeks.calls == [(*TP, 2), (*TP, 5)]
    assert [e.source_offset for e in store.sealed()] == [0, 1, 2, 3, 4]


async def test_records_held_while_waiting_for_a_gap_are_read_again_not_skipped_with_it(
    now: list[float],
) -> None:
    store, sealer, _, seeks = _resuming_at(0)
    await sealer.commit([_batch([0, 1, 3, 4])])  # offset 2 never existed
    await sealer.commit([_batch([5, 6])])  # 3 and 4 were held back, and are not read again yet
    now[0] += core.GAP_WAIT_S
    await sealer.commit([_batch([7, 8])])
    assert seeks.calls == [(*TP, 2), (*TP, 2), (*TP, 3)], "the gap is skipped up to 3, the lowest after it"
    assert store.offsets[0] == 3
    assert store.missing_from_source == [(0, 2, 2)]
    await sealer.commit([_batch(range(3, 9))])
    assert [e.source_offset for e in store.sealed()] == [0, 1, *range(3, 9)]
    assert sealer.metrics.offset_gaps.labels("0")._value.get() == 1
