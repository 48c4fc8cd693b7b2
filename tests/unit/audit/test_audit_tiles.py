"""The audit expects exactly the tile versions the sealer writes, in the order the store keeps them."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from provledger.audit.tiles import ExpectedTile, TileExpector, match_tile
from provledger.ledger.compact import CompactRange
from provledger.ledger.merkle import leaf_hash
from provledger.sealer.tiling import TileAccumulator
from provledger.store.audit_reads import StoredTile


def _stored(tile: ExpectedTile) -> StoredTile:
    return StoredTile(tile.tile_index, tile.width, b"".join(tile.hashes))


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=10))
def test_expected_versions_are_the_sealers_rows(batches: list[int]) -> None:
    tree, sealer, audit = CompactRange(), TileAccumulator(0), TileExpector()
    previous: dict[int, tuple[int, int]] = {}
    for height, batch in enumerate(batches):
        leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(tree.size, tree.size + batch)]
        ids = [uuid.uuid4() for _ in leaves]
        nodes = tree.append(leaves).nodes
        sealer.add(nodes)
        written = {(r.tile_level, r.tile_index, r.width, r.hashes) for r in sealer.drain()}
        expected = audit.add(leaves, ids, nodes, height)
        assert {(e.tile_level, e.tile_index, e.width, b"".join(e.hashes)) for e in expected} == written
        for tile in expected:
            # Per level, versions come in the store's (tile_index, width) order.
            assert tile.coordinate > previous.get(tile.tile_level, (-1, 0))
            previous[tile.tile_level] = tile.coordinate
            assert tile.height == height
            if tile.tile_level == 0:
                start = tile.tile_index * 256
                assert tile.event_ids[-1] == ids[start + tile.width - 1 - (tree.size - batch)]


def _level0(width: int) -> ExpectedTile:
    hashes = tuple(leaf_hash(bytes([i])) for i in range(width))
    return ExpectedTile(0, 2, hashes, height=7, event_ids=tuple(uuid.UUID(int=i) for i in range(width)))


def test_a_matching_version_passes() -> None:
    tile = _level0(5)
    assert match_tile(tile, [_stored(tile)]) == []


def test_a_changed_hash_names_its_leaf_and_event() -> None:
    tile = _level0(5)
    stored = _stored(tile)
    forged = StoredTile(2, 5, stored.hashes[:96] + bytes(32) + stored.hashes[128:])
    [mismatch] = match_tile(tile, [forged])
    assert (mismatch.kind, mismatch.height, mismatch.leaf_index) == ("tile", 7, 2 * 256 + 3)
    assert mismatch.event_id == uuid.UUID(int=3)


def test_missing_and_unexpected_versions_are_named() -> None:
    tile = _level0(5)
    extra = StoredTile(2, 4, _stored(tile).hashes[: 4 * 32])
    kinds = [(m.kind, m.detail) for m in match_tile(tile, [extra])]
    assert kinds == [
        ("tile_unexpected", "tile 0/2 width 4 is stored but no block of the tree makes it"),
        ("tile_missing", "tile 0/2 width 5 is not stored"),
    ]
    assert [m.kind for m in match_tile(tile, [])] == ["tile_missing"]


def test_a_higher_level_mismatch_names_the_leaves_below() -> None:
    hashes = tuple(leaf_hash(bytes([i])) for i in range(3))
    tile = ExpectedTile(1, 0, hashes, height=4)
    forged = StoredTile(0, 3, b"".join(hashes[:1]) + bytes(32) + hashes[2])
    [mismatch] = match_tile(tile, [forged])
    assert mismatch.leaf_index == 256
    assert "leaves [256, 512)" in mismatch.detail
