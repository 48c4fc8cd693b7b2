"""What an audit found: per shard, its size and every mismatch, as plain values and as JSON.

A mismatch names the block height and, where one event is at fault, its event id and leaf
index, so an operator can go straight to the rows. Kinds are stable machine-readable codes
(:data:`KINDS`); the JSON form (``provledger audit --json``) carries the same totals as the text.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from provledger.audit.keys import KeyTrustReport

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


class _Listed(Protocol):
    @property
    def kind(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


class _Tally:
    """Totals over ``counts`` (every mismatch, by kind) and ``mismatches`` (the listed ones)."""

    __slots__ = ()
    counts: dict[str, int]
    mismatches: Sequence[_Listed]

    @property
    def mismatch_count(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def _mismatches_json(self) -> dict[str, Any]:
        return {
            "mismatch_count": self.mismatch_count,
            "mismatch_counts": dict(sorted(self.counts.items())),
            "mismatches": [m.to_json() for m in self.mismatches],
            "unlisted_mismatches": self.mismatch_count - len(self.mismatches),
        }


@dataclass(frozen=True, slots=True)
class ShardReport(_Tally):
    """One shard's totals and mismatches; ``mismatches`` lists at most the audit's cap, ``counts`` all."""

    shard: int
    topic: str
    partition: int
    events: int
    blocks: int
    tree_size: int
    mismatches: tuple[Mismatch, ...]
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "topic": self.topic,
            "partition": self.partition,
            "events": self.events,
            "blocks": self.blocks,
            "tree_size": self.tree_size,
            **self._mismatches_json(),
        }


#: Every mismatch kind of the anchors' audit, with what it means.
ANCHOR_MISMATCH_KINDS: Final = {
    "statement_signature": "the statement's signed note does not verify under an anchorer key",
    "statement_sealer_key": "the statement is signed by a block-signing (sealer) key",
    "statement_text": "the statement is not a shard-heads checkpoint, or its row's columns differ from it",
    "statement_heads": "the heads the statement names differ from its stored checkpoint_heads rows",
    "anchored_block": "an anchored head names a block that is not stored with that hash and tree",
    "anchored_fork": "a shard's anchored head went down, vanished, or does not extend the one before",
    "receipt": "a stored receipt does not check with its kind's verifier",
    "receipt_statement": "a stored receipt anchors another text than the stored statement",
    "published_record": "a record of the checkpoints topic is not a statement",
    "published_missing": "a statement published to the checkpoints topic is not in the database",
    "published_differs": "the database's statement differs from the one published under its number",
    "published_head": "a published statement anchors a block the database does not hold as anchored",
}


@dataclass(frozen=True, slots=True)
class AnchorMismatch:
    """One anchoring fact that does not check out: its statement and, where one is at fault, its shard."""

    kind: str
    seq: int | None
    shard: int | None
    detail: str

    def __post_init__(self) -> None:
        if self.kind not in ANCHOR_MISMATCH_KINDS:
            raise ValueError(f"unknown anchor mismatch kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "shard": self.shard, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class AnchorReport(_Tally):
    """What the anchors' audit found: totals, receipts checked or not per kind, and every mismatch.

    ``published`` is how many checkpoints-topic records were compared, None when no broker was
    configured (then a restored database that forgot its later statements may look consistent).
    """

    statements: int
    receipts_checked: dict[str, int]
    receipts_unchecked: dict[str, int]
    published: int | None
    mismatches: tuple[AnchorMismatch, ...]
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "statements": self.statements,
            "receipts_checked": dict(sorted(self.receipts_checked.items())),
            "receipts_unchecked": dict(sorted(self.receipts_unchecked.items())),
            "published_compared": self.published,
            **self._mismatches_json(),
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The whole ledger's audit. ``checkpoints_checked`` is False where the schema has no checkpoint notes.

    ``anchors`` is the anchors' audit, None where the schema has no anchor tables; ``keys`` says
    whose keys were trusted and lists database keys the operator's do not include.
    """

    shards: tuple[ShardReport, ...]
    checkpoints_checked: bool
    anchors: AnchorReport | None = None
    keys: KeyTrustReport | None = None

    @property
    def ok(self) -> bool:
        return (
            all(shard.ok for shard in self.shards)
            and (self.anchors is None or self.anchors.ok)
            and (self.keys is None or self.keys.ok)
        )

    def totals(self) -> dict[str, int]:
        return {
            "shards": len(self.shards),
            "events": sum(s.events for s in self.shards),
            "blocks": sum(s.blocks for s in self.shards),
            "mismatches": sum(s.mismatch_count for s in self.shards)
            + (0 if self.anchors is None else self.anchors.mismatch_count)
            + (0 if self.keys is None else len(self.keys.untrusted)),
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
            "anchors": None if self.anchors is None else self.anchors.to_json(),
            "keys": None if self.keys is None else self.keys.to_json(),
        }


M = TypeVar("M", bound=_Listed)


class CappedLog(Generic[M]):
    """Collects mismatches: all counted by kind, the first ``limit`` kept in full."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.listed: list[M] = []
        self.counts: Counter[str] = Counter()

    def add(self, mismatch: M) -> None:
        self.counts[mismatch.kind] += 1
        if len(self.listed) < self._limit:
            self.listed.append(mismatch)


class MismatchLog(CappedLog[Mismatch]):
    """A shard's mismatches (:class:`CappedLog`), which can say whether a block has one of a kind."""

    def has(self, kind: str, height: int | None) -> bool:
        """Whether a listed mismatch of ``kind`` names block ``height``."""
        return any(m.kind == kind and m.height == height for m in self.listed)
