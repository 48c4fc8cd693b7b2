"""C2SP tlog-tiles addressing: paths, widths, and nodes rebuilt from tiles of a real tree."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers import rfc9162_reference as ref

from provledger.ledger.compact import CompactRange
from provledger.ledger.proofs import NodeId, inclusion_proof_from
from provledger.ledger.tiles import (
    TILE_WIDTH,
    TileSpan,
    entry_bundle_path,
    node_from_tile,
    node_tile,
    parse_tile_path,
    tile_path,
    tile_width,
)


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ((0, 0), "tile/0/000"),
        ((0, 1234067, 112), "tile/0/x001/x234/067.p/112"),
        ((1, 1000), "tile/1/x001/000"),
        ((2, 999, 1), "tile/2/999.p/1"),
        ((63, 5), "tile/63/005"),
    ],
)
def test_tile_paths_follow_the_spec_encoding(args: tuple[int, ...], path: str) -> None:
    assert tile_path(*args) == path
    level, index, *width = args
    assert parse_tile_path(path) == (level, index, width[0] if width else TILE_WIDTH)


def test_entry_bundle_paths() -> None:
    assert entry_bundle_path(7, 5) == "tile/entries/007.p/5"
    assert parse_tile_path("tile/entries/x001/234") == (None, 1234, TILE_WIDTH)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",
        "tile/0/x000/001",
        "tile/01/000",
        "tile/64/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/0001",
    ],
)
def test_non_canonical_tile_paths_are_rejected(path: str) -> None:
    with pytest.raises(ValueError, match=r"tlog-tiles path|canonical|above"):
        parse_tile_path(path)


def test_widths_match_the_spec_example_of_size_70000() -> None:
    """SPEC: 273 full level 0 tiles, a partial one of width 112, one full level 1 tile,
    a partial level 1 tile of width 17, and a partial level 2 tile of width 1."""
    size = 70_000
    assert [tile_width(0, n, size) for n in (0, 272, 273, 274)] == [256, 256, 112, 0]
    assert [tile_width(1, n, size) for n in (0, 1, 2)] == [256, 17, 0]
    assert [tile_width(2, n, size) for n in (0, 1)] == [1, 0]
    assert tile_width(1, 0, 256) == 1


def test_node_tile_spans() -> None:
    assert node_tile(0, 300) == TileSpan(0, 1, 44, 1)
    assert node_tile(8, 3) == TileSpan(1, 0, 3, 1)
    assert node_tile(11, 70) == TileSpan(1, 2, 48, 8)


@settings(max_examples=15, deadline=None)
@given(size=st.integers(min_value=1, max_value=3000), data=st.data())
def test_proofs_from_tiles_match_the_reference(size: int, data: st.DataObject) -> None:
    """Store only tile levels (Merkle levels 0, 8, ...) as tiles, rebuild every other node."""
    leaves = ref.leaves(size)
    tiles: dict[tuple[int, int], bytearray] = {}
    for (level, index), value in CompactRange().append(leaves).nodes:
        if level % 8 == 0:
            span = node_tile(level, index)
            tile = tiles.setdefault((span.tile_level, span.tile_index), bytearray())
            assert len(tile) == span.start * 32  # appended in order, no gaps
            tile += value
    for (tile_level, tile_index), tile in tiles.items():
        assert len(tile) // 32 == tile_width(tile_level, tile_index, size)

    def get_nodes(ids: Sequence[NodeId]) -> list[bytes]:
        spans = [node_tile(level, index) for level, index in ids]
        return [node_from_tile(bytes(tiles[s.tile_level, s.tile_index]), s) for s in spans]

    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    assert inclusion_proof_from(get_nodes, index, size) == ref.path(index, leaves)


def test_node_from_a_too_short_tile_is_refused() -> None:
    with pytest.raises(ValueError, match="does not hold"):
        node_from_tile(bytes(64), TileSpan(0, 0, 1, 2))
    with pytest.raises(ValueError, match="whole number"):
        node_from_tile(bytes(65), TileSpan(0, 0, 0, 1))
