"""Seal times against the in-memory store: monotonic per shard, inside the key's range, else stand down.

The clock is a list the test drives: it may step back, stand still, or pass the key's end. Every
block's ``sealed_at`` must be strictly after its predecessor's (also across a reload from the
store) and inside the key's registered range; past the range the sealer raises, writes nothing,
and dead-letters nothing. A rotation elsewhere, seen only by the store at the write, stops it too.
"""

from __future__ import annotations

import itertools

import pytest
from tests.unit.sealer.test_narrowing import KEY, TP, DeadLetters, FakeStore, Seeks, _batch

from provledger.errors import ConfigurationError
from provledger.events.rows import SealedBlock
from provledger.ledger.block import log_id_for
from provledger.ledger.keys import TrustedKey
from provledger.sealer.core import Sealer, SealerOptions
from provledger.sealer.shardlog import StandDown

ORIGIN = "test.example/ledger"
T0 = 1_700_000_000_000_000


class Clock:
    """Reads ``now``, which the test sets before each block (the sealer also reads it for metrics)."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _sealer(
    store: FakeStore, clock: Clock, validity: TrustedKey | None = None, origin: str = ORIGIN
) -> tuple[Sealer, DeadLetters]:
    dead = DeadLetters()
    options = SealerOptions(origin, "provledger.openlineage", 1 << 20)
    return Sealer(store, KEY, options, dead, Seeks(), clock=clock, validity=validity), dead


async def _seal_each(sealer: Sealer, clock: Clock, first: int, *readings: int) -> None:
    """One block per clock reading, of one record each, from offset ``first`` on."""
    for offset, reading in enumerate(readings, start=first):
        clock.now = reading
        await sealer.commit([_batch(range(offset, offset + 1))])


def _sealed_at(store: FakeStore) -> list[int]:
    return [block.header.sealed_at for block in store.blocks[0]]


async def test_a_clock_stepping_back_is_clamped_to_one_microsecond_after_the_previous_block() -> None:
    store, clock = FakeStore(), Clock()
    sealer, _ = _sealer(store, clock)
    await _seal_each(sealer, clock, 0, T0, T0 + 10, T0 - 3_600_000_000, T0 + 10, T0 + 11, T0 + 500)
    assert _sealed_at(store) == [T0, T0 + 10, T0 + 11, T0 + 12, T0 + 13, T0 + 500]
    assert all(a < b for a, b in itertools.pairwise(_sealed_at(store)))


async def test_monotonic_across_a_reload_of_the_shard_from_the_store() -> None:
    store, clock = FakeStore(), Clock()
    first, _ = _sealer(store, clock)
    await _seal_each(first, clock, 0, T0 + 1_000)
    second, _ = _sealer(store, clock)  # another replica, its clock behind: it reads the head's time
    await _seal_each(second, clock, 1, T0, T0)
    assert _sealed_at(store) == [T0 + 1_000, T0 + 1_001, T0 + 1_002]


async def test_a_clock_behind_the_keys_start_is_raised_to_it() -> None:
    store, clock = FakeStore(), Clock()
    sealer, _ = _sealer(store, clock, TrustedKey(KEY.verifier, T0 + 5_000))
    await _seal_each(sealer, clock, 0, T0)
    assert _sealed_at(store) == [T0 + 5_000]


async def test_a_sealer_past_its_keys_end_stands_down_and_signs_nothing_after_it() -> None:
    store, clock, end = FakeStore(), Clock(), T0 + 100
    sealer, dead = _sealer(store, clock, TrustedKey(KEY.verifier, 0, end))
    await _seal_each(sealer, clock, 0, T0, T0 + 50)
    with pytest.raises(StandDown, match="keys rotate"):
        await _seal_each(sealer, clock, 2, T0 + 100)
    assert _sealed_at(store) == [T0, T0 + 50]
    assert dead.sent == []
    assert store.offsets[0] == 2  # the record waits for the sealer of the next key


async def test_clamping_never_crosses_the_keys_end() -> None:
    store, clock = FakeStore(), Clock()
    sealer, _ = _sealer(store, clock, TrustedKey(KEY.verifier, 0, T0 + 2))
    await _seal_each(sealer, clock, 0, T0 + 1)
    with pytest.raises(StandDown):  # clamped to T0 + 2, which is the key's end
        await _seal_each(sealer, clock, 1, T0 - 10)
    assert _sealed_at(store) == [T0 + 1]


class RotatedStore(FakeStore):
    """Refuses every block sealed from ``rotated_at`` on, as Postgres does once a rotation committed."""

    def __init__(self, rotated_at: int) -> None:
        super().__init__()
        self.rotated_at = rotated_at

    async def write_block(self, block: SealedBlock, expected_offset: int) -> None:
        if block.header.sealed_at >= self.rotated_at:
            self.write_attempts += 1
            raise ConfigurationError("the ledger's key from then on is another: provledger keys rotate")
        await super().write_block(block, expected_offset)


async def test_a_rotation_seen_only_by_the_store_stops_the_sealer_without_dead_letters() -> None:
    store, clock = RotatedStore(T0 + 100), Clock()
    sealer, dead = _sealer(store, clock)
    await _seal_each(sealer, clock, 0, T0)
    with pytest.raises(ConfigurationError, match="keys rotate"):
        await _seal_each(sealer, clock, 1, T0 + 100)
    assert store.write_attempts == 2  # neither retried nor narrowed
    assert _sealed_at(store) == [T0]
    assert dead.sent == []
    assert store.offsets[0] == 1


async def test_a_shard_of_another_log_is_refused() -> None:
    store, clock = FakeStore(), Clock()
    other, _ = _sealer(store, clock, origin="other.example/ledger")
    await _seal_each(other, clock, 0, T0)
    assert store.blocks[0][0].header.log_id == log_id_for("other.example/ledger")
    sealer, dead = _sealer(store, clock)
    with pytest.raises(StandDown, match="PROVLEDGER_LOG_ORIGIN"):
        await sealer.load([TP])
    with pytest.raises(StandDown):
        await _seal_each(sealer, clock, 1, T0 + 1)
    assert len(store.blocks[0]) == 1
    assert dead.sent == []
