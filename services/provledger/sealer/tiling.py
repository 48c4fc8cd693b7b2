"""Group the Merkle nodes a block completes into C2SP tlog-tiles rows to store.

SPEC (C2SP tlog-tiles): tile level L holds the hashes of Merkle level 8L, 256 to a full tile;
"the partial tile at level l for a tree of size s has floor(s / 256**l) mod 256 entries". The
sealer writes every full tile once and, after each block, the partial tile of each level whose
width changed, as a new immutable row: nothing stored is ever rewritten, and a proof at any
past tree size finds the tile version it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from provledger.events.rows import TileRow
from provledger.ledger.proofs import NodeId
from provledger.ledger.tiles import TILE_HEIGHT, TILE_WIDTH, partial_tile_coordinates


class TileAccumulator:
    """The right edge of one shard's tiles: the partial tile of each level, in memory.

    Restored from the stored partial tiles of the current tree size; fed the nodes each
    :meth:`~provledger.ledger.compact.CompactRange.append` completes; drained once per block.
    """

    def __init__(self, tree_size: int, partial_tiles: Iterable[TileRow] = ()) -> None:
        self._partial: dict[int, list[bytes]] = {}
        self._index: dict[int, int] = {}
        self._dirty: set[int] = set()
        self._full: list[TileRow] = []
        expected = {(level, index): width for level, index, width in partial_tile_coordinates(tree_size)}
        for row in partial_tiles:
            if expected.pop((row.tile_level, row.tile_index), None) != row.width:
                raise ValueError(f"stored tile {row.tile_level}/{row.tile_index} of width {row.width} "
                                 f"is not a partial tile of a tree of size {tree_size}")  # fmt: skip
            self._partial[row.tile_level] = [row.hashes[i : i + 32] for i in range(0, len(row.hashes), 32)]
            self._index[row.tile_level] = row.tile_index
        if expected:
            raise ValueError(f"partial tiles {sorted(expected)} of tree size {tree_size} are missing")

    def add(self, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
        """Take the nodes one append completed, keeping those stored in tiles (levels 0, 8, 16...)."""
        for (level, index), value in nodes:
            tile_level, below = divmod(level, TILE_HEIGHT)
            if below:
                continue
            tile_index, position = divmod(index, TILE_WIDTH)
            hashes = self._partial.setdefault(tile_level, [])
            if position != len(hashes) or self._index.setdefault(tile_level, tile_index) != tile_index:
                raise ValueError(f"node ({level}, {index}) arrived out of order for tile level {tile_level}")
            hashes.append(value)
            self._dirty.add(tile_level)
            if len(hashes) == TILE_WIDTH:
                self._full.append(TileRow(tile_level, tile_index, TILE_WIDTH, b"".join(hashes)))
                self._partial[tile_level] = []
                self._index[tile_level] = tile_index + 1
                self._dirty.discard(tile_level)

    def drain(self) -> list[TileRow]:
        """The rows to write for the block just appended: full tiles, then changed partial tiles."""
        rows = self._full
        for level in sorted(self._dirty):
            hashes = self._partial[level]
            rows.append(TileRow(level, self._index[level], len(hashes), b"".join(hashes)))
        self._full, self._dirty = [], set()
        return rows
