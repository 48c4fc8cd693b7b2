"""The Merkle tiles a shard must have stored, recomputed from its leaves, and their comparison.

SPEC (C2SP tlog-tiles): tile level L holds the nodes of Merkle level 8L, 256 to a full tile;
"the partial tile at level l for a tree of size s has floor(s / 256**l) mod 256 entries". The
sealer (:mod:`provledger.sealer.tiling`) writes each full tile once and, after each block, the
partial tile of each level whose width changed. So the versions a shard must hold are exactly:
every full tile, and the partial tiles of the tree size after each block. :class:`TileExpector`
turns the nodes a :class:`~provledger.ledger.compact.CompactRange` completes into those
versions, in the order the store keeps them (``tile_index, width`` per level), holding at most
one tile's hashes per level.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from provledger.audit.report import Mismatch
from provledger.ledger.hashing import HASH_SIZE
from provledger.ledger.proofs import NodeId
from provledger.ledger.tiles import TILE_HEIGHT, TILE_WIDTH
from provledger.store.audit_reads import StoredTile


@dataclass(frozen=True, slots=True)
class ExpectedTile:
    """A tile version the store must hold, with its recomputed hashes and the block that made it."""

    tile_level: int
    tile_index: int
    hashes: tuple[bytes, ...]
    height: int
    #: For level 0, the event id of each leaf (None where the event row is missing).
    event_ids: tuple[uuid.UUID | None, ...] = ()

    @property
    def width(self) -> int:
        return len(self.hashes)

    @property
    def coordinate(self) -> tuple[int, int]:
        return self.tile_index, self.width


class TileExpector:
    """Accumulates recomputed tile-level nodes; says which tile versions each block must have stored."""

    def __init__(self) -> None:
        self._hashes: dict[int, list[bytes]] = {}
        self._index: dict[int, int] = {}
        self._last: dict[int, tuple[int, int]] = {}
        self._ids: list[uuid.UUID | None] = []

    @property
    def levels(self) -> int:
        """How many tile levels the tree has reached so far."""
        return len(self._hashes)

    def add(
        self,
        leaves: Sequence[bytes],
        event_ids: Sequence[uuid.UUID | None],
        nodes: Sequence[tuple[NodeId, bytes]],
        height: int,
    ) -> list[ExpectedTile]:
        """Feed one block: its leaves (with their event ids) and the nodes its append completed.

        Returns the tile versions the block wrote. Level 0 is the leaves themselves, taken in
        slices; only the few nodes of levels 8, 16, ... are picked out of ``nodes``.
        """
        expected = self._extend(0, leaves, event_ids, height)
        for (level, _), value in nodes:
            if level and not level & (TILE_HEIGHT - 1):
                expected += self._extend(level // TILE_HEIGHT, (value,), (), height)
        for tile_level, hashes in sorted(self._hashes.items()):
            if hashes and self._last.get(tile_level) != (self._index[tile_level], len(hashes)):
                expected.append(self._emit(tile_level, height))
        return expected

    def _extend(
        self, tile_level: int, values: Sequence[bytes], ids: Sequence[uuid.UUID | None], height: int
    ) -> list[ExpectedTile]:
        """Append the next node hashes of one tile level (the tree grows from leaf 0: tiles from 0)."""
        hashes = self._hashes.setdefault(tile_level, [])
        self._index.setdefault(tile_level, 0)
        full, taken = [], 0
        while taken < len(values):
            room = min(TILE_WIDTH - len(hashes), len(values) - taken)
            hashes.extend(values[taken : taken + room])
            if tile_level == 0:
                self._ids.extend(ids[taken : taken + room])
            taken += room
            if len(hashes) == TILE_WIDTH:
                full.append(self._emit(tile_level, height))
                hashes.clear()
                self._index[tile_level] += 1
                if tile_level == 0:
                    self._ids.clear()
        return full

    def _emit(self, tile_level: int, height: int) -> ExpectedTile:
        tile = ExpectedTile(
            tile_level,
            self._index[tile_level],
            tuple(self._hashes[tile_level]),
            height,
            tuple(self._ids) if tile_level == 0 else (),
        )
        self._last[tile_level] = tile.coordinate
        return tile


def _where(tile_level: int, tile_index: int, width: int) -> str:
    return f"tile {tile_level}/{tile_index} width {width}"


def match_tile(expected: ExpectedTile, stored: Sequence[StoredTile]) -> list[Mismatch]:
    """Compare one expected version with the stored versions up to its coordinate (store order).

    Versions before it were never written by a sealer; the last one, if it is the expected
    coordinate, must hold exactly the recomputed hashes.
    """
    level, found = expected.tile_level, []
    for tile in stored:
        if tile.coordinate != expected.coordinate:
            found.append(
                Mismatch("tile_unexpected", expected.height,
                         f"{_where(level, *tile.coordinate)} is stored but no block of the tree makes it")
            )  # fmt: skip
    if not stored or stored[-1].coordinate != expected.coordinate:
        where = _where(level, *expected.coordinate)
        found.append(Mismatch("tile_missing", expected.height, f"{where} is not stored"))
        return found
    actual = stored[-1].hashes
    for position, value in enumerate(expected.hashes):
        if actual[position * HASH_SIZE : (position + 1) * HASH_SIZE] != value:
            found.append(_differs(expected, position))
            break
    return found


def _differs(expected: ExpectedTile, position: int) -> Mismatch:
    node = expected.tile_index * TILE_WIDTH + position
    where = _where(expected.tile_level, *expected.coordinate)
    if expected.tile_level == 0:
        return Mismatch(
            "tile", expected.height, f"{where}: hash {position} is not the leaf hash of leaf {node}",
            event_id=expected.event_ids[position], leaf_index=node,
        )  # fmt: skip
    span = 1 << (TILE_HEIGHT * expected.tile_level)
    return Mismatch(
        "tile", expected.height,
        f"{where}: hash {position} is not the node over leaves [{node * span}, {(node + 1) * span})",
        leaf_index=node * span,
    )  # fmt: skip
