"""The anchor receipts of an evidence bundle: stored receipts, with their statement and link added.

The anchorer stores each kind's receipt once per statement, without ``type`` or ``link``
(:mod:`provledger.store.anchors`). A bundle takes, per kind, the receipt of the earliest
statement covering its block that has one (:func:`provledger.store.anchors.bundle_receipts`)
and adds the link :func:`provledger.ledger.anchoring.verify_link` checks: the anchored head's
signed header and the consistency proof from the bundle's tree to the head's, read from the
stored tiles in O(log n) rows. Before any receipt covers the block, the bundle says when the
next statement is due instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from provledger.ledger.anchoring import AnchorLink
from provledger.ledger.block import BlockHeader
from provledger.ledger.evidence import Receipt
from provledger.ledger.note import parse_note
from provledger.store import anchors
from provledger.store.db import Conn
from provledger.store.tiles import consistency_proof


@dataclass(frozen=True, slots=True)
class BundleAnchors:
    """What anchoring adds to a bundle: receipts, or when to ask again, and the anchorer's keys."""

    receipts: tuple[Receipt, ...]
    next_anchor_due: str | None
    keys: tuple[str, ...]


async def bundle_anchors(conn: Conn, block: BlockHeader, interval_s: float) -> BundleAnchors:
    """The receipts linking ``block`` to anchored statements, one per kind that anchored one."""
    found = await anchors.bundle_receipts(conn, block.shard, block.height)
    proofs: dict[int, list[bytes]] = {}
    receipts = []
    for stored in found:
        head = stored.head
        if head.tree_size not in proofs:
            proofs[head.tree_size] = await consistency_proof(
                conn, block.shard, block.tree_size, head.tree_size
            )
        link = AnchorLink(
            stored.seq,
            head.shard,
            head.height,
            BlockHeader.from_bytes(head.header),
            head.signature,
            tuple(proofs[head.tree_size]),
        )
        receipts.append(
            Receipt.from_json(
                {**stored.fields, "type": stored.kind, "statement": stored.note, "link": link.to_json()}
            )
        )
    if not receipts:
        latest = await anchors.latest_statement_at(conn)
        due = None if latest is None else (latest + timedelta(seconds=interval_s)).isoformat()
        return BundleAnchors((), due, ())
    signers = {s.key_id for stored in found for s in parse_note(stored.note).signatures}
    keys = await anchors.anchorer_verifier_keys(conn, sorted(signers))
    return BundleAnchors(tuple(receipts), None, tuple(keys))
