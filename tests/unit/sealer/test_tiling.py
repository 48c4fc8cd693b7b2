"""Tiles the sealer writes are exactly the C2SP tlog-tiles of the tree, whatever the batching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers import rfc9162_reference as ref

from provledger.events.rows import TileRow
from provledger.ledger.compact import CompactRange
from provledger.ledger.merkle import leaf_hash
from provledger.ledger.tiles import partial_tile_coordinates
from provledger.sealer.tiling import TileAccumulator


def _expected_tiles(leaves: list[bytes], tile_level: int) -> list[bytes]:
    """Hashes of Merkle level 8L: roots of consecutive groups of 256**L leaves, by the RFC 9162 reference."""
    group = 256**tile_level
    return [ref.mth(leaves[i : i + group]) for i in range(0, len(leaves) - group + 1, group)]


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=12))
def test_written_tiles_hold_every_stored_level(batches: list[int]) -> None:
    tree = CompactRange()
    tiles = TileAccumulator(0)
    written: dict[tuple[int, int, int], bytes] = {}
    leaves: list[bytes] = []
    for batch in batches:
        new = [leaf_hash(i.to_bytes(4, "big")) for i in range(len(leaves), len(leaves) + batch)]
        leaves += new
        tiles.add(tree.append(new).nodes)
        for row in tiles.drain():
            key = (row.tile_level, row.tile_index, row.width)
            assert key not in written, f"tile {key} written twice"
            written[key] = row.hashes
        for level, index, width in partial_tile_coordinates(len(leaves)):
            assert (level, index, width) in written, "the partial tile of the current size is stored"
    for tile_level in (0, 1):
        expected = _expected_tiles(leaves, tile_level)
        for index in range(0, (len(expected) + 255) // 256):
            width = min(256, len(expected) - index * 256)
            assert written[(tile_level, index, width)] == b"".join(
                expected[index * 256 : index * 256 + width]
            )


def test_restored_accumulator_continues_where_it_stopped() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(1000)]
    tree, tiles = CompactRange(), TileAccumulator(0)
    tiles.add(tree.append(leaves[:600]).nodes)
    stored = {(r.tile_level, r.tile_index, r.width): r for r in tiles.drain()}
    partial = [stored[c] for c in partial_tile_coordinates(600)]
    restored = TileAccumulator(600, partial)
    resumed_tree = CompactRange(600, tree.frontier)
    restored.add(resumed_tree.append(leaves[600:]).nodes)
    rows = restored.drain()
    assert TileRow(0, 3, 232, b"".join(leaves[768:1000])) in rows
    assert TileRow(0, 2, 256, b"".join(leaves[512:768])) in rows


def test_restoring_from_wrong_tiles_is_refused() -> None:
    with pytest.raises(ValueError, match="not a partial tile"):
        TileAccumulator(600, [TileRow(0, 2, 87, bytes(32 * 87))])
    with pytest.raises(ValueError, match="are missing"):
        TileAccumulator(600, [])
