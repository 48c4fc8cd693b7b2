"""The rows a sealed event becomes, from the reader through the sealer to the store: plain values.

Defined once, here, beside the reader that builds the per-event rows, and imported by the sealer
and by :mod:`provledger.store`, which writes them as they are ("compute, then write", STYLE.md):
the sealer's :class:`~provledger.sealer.shardlog.ShardLog` turns :class:`EventRow` values into a
:class:`SealedBlock`, and :func:`provledger.store.blocks.write_block` writes it in one
transaction. Nothing here does I/O, so the reader and the sealer's pure modules need no
database driver.

The per-event rows are named tuples: the sealer builds tens of thousands a second, and a tuple
costs a fraction of a frozen dataclass to make. The mypyc build of the reader
(:mod:`provledger.events.compiled`) compiles in their field order, so its build key includes
this file.

    >>> key = ArtifactKey("s3://lake", "imagenet", "sha256:" + "ab" * 32, "dataset")
    >>> key.version is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from provledger.ledger.block import BlockHeader


class ArtifactKey(NamedTuple):
    """An artifact as lineage names it: the same name with another digest is another artifact."""

    namespace: str
    name: str
    digest: str
    kind: str
    version: str | None = None


class EventRow(NamedTuple):
    """One valid event as the sealer seals and the store writes it: canonical bytes exactly as hashed.

    Built once per event, by the reader's fast path or the sealer's general path, and handed from
    decoding through deduplication and the Merkle log to COPY unchanged: its leaf index follows
    from its place in the block.

    ``event_id`` is the id's text, lowercase and hyphenated (both paths refuse any other
    spelling, so equal texts are equal ids): building no UUID object saves the reader a parse
    per event, and the store's driver parses the text in C as it writes the ``uuid`` column.
    """

    event_id: str
    canonical: bytes
    leaf_hash: bytes
    event_time: int  # microseconds since the Unix epoch
    event_type: str
    run_id: str
    parent_run_id: str | None
    job_namespace: str
    job_name: str
    inputs: tuple[ArtifactKey, ...]
    outputs: tuple[ArtifactKey, ...]
    source_offset: int


class LineageRow(NamedTuple):
    """An edge a sealed event records: a run ``used`` or ``generated`` an artifact.

    A block holds one edge per distinct ``(relation, run_id, artifact)``, naming the first of
    its events that records it: lineage reads answer each edge once with its first event.
    """

    relation: str
    run_id: str
    artifact: ArtifactKey
    event_id: str  # as in EventRow


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run as the first event of a block that names it describes it."""

    run_id: str
    parent_run_id: str | None
    job_namespace: str
    job_name: str
    first_seen: int  # microseconds since the Unix epoch


@dataclass(frozen=True, slots=True)
class TileRow:
    """One immutable C2SP tlog-tiles tile version: ``width`` hashes of tile ``(tile_level, tile_index)``."""

    tile_level: int
    tile_index: int
    width: int
    hashes: bytes


@dataclass(frozen=True, slots=True)
class ShardState:
    """Where a shard's log stands in Postgres: enough to seal the next block without older leaves.

    Not the anchorer's :class:`provledger.ledger.checkpoint.ShardHead` (a shard's newest block
    as a heads checkpoint names it): this is the sealer's whole resume point.
    """

    shard: int
    next_height: int
    prev_block_hash: bytes
    tree_size: int
    next_offset: int
    frontier: tuple[bytes, ...]
    partial_tiles: tuple[TileRow, ...]


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
