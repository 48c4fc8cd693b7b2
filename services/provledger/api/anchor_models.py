"""Response bodies of the anchor endpoints; as pydantic models they are the OpenAPI schemas.

A statement is the anchorer's signed shard-heads checkpoint (``provledger.ledger.checkpoint``):
``note`` is the C2SP signed note exactly as signed and anchored, the other fields are what it
says (origin, shard count, root) and, per head, the tree the block closed, which a receipt's
consistency proof starts from. Encodings are those of :mod:`provledger.api.models`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from provledger.api.models import BlockOut


class AnchoredHeadOut(BaseModel):
    """One shard's head as a statement names it, with that block's tree."""

    shard: int
    height: int
    tree_size: int = Field(description="Size of the shard's log after this block.")
    log_root: str = Field(description="Base64 RFC 9162 root of the shard's log at tree_size.")
    block_hash: str = Field(description="Base64 SHA-256 of the block's canonical header.")


class StatementOut(BaseModel):
    """A signed shard-heads statement, its heads and which anchor kinds returned a receipt."""

    seq: int = Field(description="Sequence number: 1, 2, 3... in the order the anchorer signed them.")
    created_at: datetime
    origin: str = Field(description="The statement's origin line (the ledger's log origin).")
    shard_count: int = Field(description="Number of shard heads: the checkpoint's tree size line.")
    root: str = Field(description="Base64 RFC 9162 root over the shard heads, sorted by shard.")
    note: str = Field(description="The C2SP signed note, exactly as signed; verify it with an anchorer key.")
    heads: list[AnchoredHeadOut]
    receipt_kinds: list[str] = Field(description="Anchor kinds holding a receipt of this statement, sorted.")


class StatementPage(BaseModel):
    items: list[StatementOut] = Field(description="Statements, newest first.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class StatementDetail(StatementOut):
    """A statement and every receipt stored for it."""

    receipts: list[dict[str, Any]] = Field(
        description='One per kind: {"type": <kind>, ...what the kind returned}, e.g. rfc3161\'s '
        '"statement" and base64 DER "responses".'
    )


class CoveredBlockOut(BlockOut):
    """A block and the earliest statement whose head for its shard is at or above it."""

    anchored_by: int | None = Field(
        description="seq of the earliest statement covering this block; null until one is signed."
    )
    anchor: str | None = Field(
        description="Path of that statement (/v1/anchors/{seq}); null with anchored_by."
    )

    @classmethod
    def of(cls, block: BlockOut, seq: int | None) -> CoveredBlockOut:
        """``block`` with the statement ``seq`` that covers it (None: not anchored yet)."""
        return cls(
            **block.model_dump(), anchored_by=seq, anchor=None if seq is None else f"/v1/anchors/{seq}"
        )
