"""The values the store persists: what the sealer computes for one block, as plain rows.

"Compute, then write" (STYLE.md): the sealer builds a :class:`SealedBlock` with the ledger core,
and :func:`provledger.store.blocks.write_block` writes it in one transaction. Nothing here does I/O.
The per-event rows are named tuples: the sealer builds tens of thousands a second, and a tuple
costs a fraction of a frozen dataclass to make.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

# Defined with the reader that builds them; the compiled reader (events.compiled) builds equal
# tuples of its own classes, so code compares, hashes and reads them, never isinstance-checks them.
from provledger.events.reader import ArtifactKey as ArtifactKey
from provledger.events.reader import EventRow as EventRow
from provledger.ledger.block import BlockHeader

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(micros: int) -> datetime:
    """A timezone-aware datetime from microseconds since the Unix epoch (exact, no float)."""
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True)
class TileRow:
    """One immutable C2SP tlog-tiles tile version: ``width`` hashes of tile ``(tile_level, tile_index)``."""

    tile_level: int
    tile_index: int
    width: int
    hashes: bytes


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    parent_run_id: str | None
    job_namespace: str
    job_name: str
    first_seen: int  # microseconds since the Unix epoch


class LineageRow(NamedTuple):
    """An edge a sealed event records: a run ``used`` or ``generated`` an artifact.

    A block holds one edge per distinct ``(relation, run_id, artifact)``, naming the first of
    its events that records it: lineage reads answer each edge once with its first event.
    """

    relation: str
    run_id: str
    artifact: ArtifactKey
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SealedBlock:
    """Everything one block adds to a shard, written atomically or not at all."""

    shard: int
    header: BlockHeader
    header_bytes: bytes
    block_hash: bytes
    signature: bytes
    checkpoint: str  # C2SP signed note of the shard log after this block, signed by the same key
    events: tuple[EventRow, ...]  # in leaf order, from first_leaf_index on
    tiles: tuple[TileRow, ...]
    runs: tuple[RunRow, ...]
    lineage: tuple[LineageRow, ...]
    next_offset: int  # the source partition offset the shard resumes from after this block

    @property
    def first_leaf_index(self) -> int:
        """The leaf index of ``events[0]``: events take the leaves after the tree before this block."""
        return self.header.tree_size - self.header.event_count
