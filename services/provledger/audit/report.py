"""What an audit found: per shard, its size and every mismatch, as plain values and as JSON.

A mismatch names the block height and, where one event is at fault, its event id and leaf
index, so an operator can go straight to the rows. Kinds are stable machine-readable codes
(:data:`KINDS`); the JSON form (``provledger audit --json``) carries the same totals as the text.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

#: Every mismatch kind, with what it means.
KINDS: Final = {
    "header": "the stored header bytes do not decode as a block header",
    "header_columns": "the blocks row's columns differ from its signed header bytes",
    "block_hash": "block_hash is not the SHA-256 of the stored header bytes",
    "signature": "the header signature does not verify under the key valid when it was sealed",
    "chain": "the block does not link to the one before (height, prev_block_hash, tree size, offsets)",
    "leaf_hash": "an event's leaf hash is not SHA-256(0x00 || its stored canonical bytes)",
    "event_missing": "leaf indexes the block covers have no event row",
    "event_block": "an event row names another block than the one covering its leaf index",
    "event_offset": "an event's source offset lies outside the offsets its block covers",
    "event_times": "the block's min/max event time differ from its events'",
    "event_orphan": "an event lies beyond the shard's last block, or lineage names an event that is gone",
    "batch_root": "the block's batch root is not the Merkle root of its events' leaf hashes",
    "log_root": "the block's log root is not the root of the shard's leaves up to its tree size",
    "tile": "a stored Merkle tile holds a hash other than the recomputed node",
    "tile_missing": "a Merkle tile version the sealer writes is not stored",
    "tile_unexpected": "a stored Merkle tile version does not belong to the tree",
    "checkpoint": "the block's shard checkpoint note does not verify or names another tree",
    "checkpoint_missing": "the block has no shard checkpoint note",
}


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One thing that does not check out."""

    kind: str
    height: int | None
    detail: str
    event_id: uuid.UUID | None = None
    leaf_index: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown mismatch kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "height": self.height,
            "event_id": None if self.event_id is None else str(self.event_id),
            "leaf_index": self.leaf_index,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ShardReport:
    """One shard's totals and mismatches; ``mismatches`` lists at most the audit's cap, ``counts`` all."""

    shard: int
    topic: str
    partition: int
    events: int
    blocks: int
    tree_size: int
    mismatches: tuple[Mismatch, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def mismatch_count(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "topic": self.topic,
            "partition": self.partition,
            "events": self.events,
            "blocks": self.blocks,
            "tree_size": self.tree_size,
            "mismatch_count": self.mismatch_count,
            "mismatch_counts": dict(sorted(self.counts.items())),
            "mismatches": [m.to_json() for m in self.mismatches],
            "unlisted_mismatches": self.mismatch_count - len(self.mismatches),
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The whole ledger's audit. ``checkpoints_checked`` is False where the schema has no checkpoint notes."""

    shards: tuple[ShardReport, ...]
    checkpoints_checked: bool

    @property
    def ok(self) -> bool:
        return all(shard.ok for shard in self.shards)

    def totals(self) -> dict[str, int]:
        return {
            "shards": len(self.shards),
            "events": sum(s.events for s in self.shards),
            "blocks": sum(s.blocks for s in self.shards),
            "mismatches": sum(s.mismatch_count for s in self.shards),
        }

    def mismatches(self) -> list[tuple[int, Mismatch]]:
        """``(shard, mismatch)`` for every listed mismatch, shard by shard."""
        return [(s.shard, m) for s in self.shards for m in s.mismatches]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoints_checked": self.checkpoints_checked,
            "totals": self.totals(),
            "shards": [s.to_json() for s in self.shards],
        }


class MismatchLog:
    """Collects a shard's mismatches: all counted by kind, the first ``limit`` kept in full."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.listed: list[Mismatch] = []
        self.counts: Counter[str] = Counter()

    def add(self, mismatch: Mismatch) -> None:
        self.counts[mismatch.kind] += 1
        if len(self.listed) < self._limit:
            self.listed.append(mismatch)

    def has(self, kind: str, height: int | None) -> bool:
        """Whether a listed mismatch of ``kind`` names block ``height``."""
        return any(m.kind == kind and m.height == height for m in self.listed)
