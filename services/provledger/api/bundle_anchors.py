"""The anchor receipts of an evidence bundle: stored receipts, with their statement and link added.

The anchorer stores each kind's receipt once per statement, without ``type`` or ``link``
(:mod:`provledger.store.anchors`). A bundle takes, per kind, the receipt of the earliest
statement covering its block that has one (:func:`provledger.store.anchors.bundle_receipts`)
and adds the link :func:`provledger.ledger.anchoring.verify_link` checks: the anchored head's
signed header and the consistency proof from the bundle's tree to the head's, read from the
stored tiles in O(log n) rows. Before any receipt covers the block, the bundle says when the
next statement is due instead.

Witnesses add a ``tlog-witness`` receipt (ARCHITECTURE.md section 3: "cosigned shard checkpoint
+ consistency proof"), which needs no statement or link: the witnesses vouch for the shard's log
itself. It is the cosigned checkpoint of the smallest tree size at or above the bundle's, or,
where a witness missed that one, the first after it that more witnesses cosigned
(:func:`provledger.store.witnessed.covering_cosigned`, a probe per witness key), the sealer's
note with every stored cosignature line appended, and the RFC 9162 consistency proof from the
bundle's tree to it (empty when the sizes are equal)::

    {"type": "tlog-witness", "checkpoint": "<note + cosignature lines>", "consistency_proof": ["<b64>"]}

Unlike the other kinds' receipts it can change after it first appears: its checkpoint gains
the line of a witness that cosigns it later, or gives way to a later checkpoint that more
witnesses cosigned when one was down for the first.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from provledger.ledger.anchoring import AnchorLink
from provledger.ledger.block import BlockHeader
from provledger.ledger.evidence import Receipt
from provledger.ledger.note import parse_note
from provledger.store import anchors, reads, witnessed
from provledger.store.db import Conn
from provledger.store.tiles import consistency_proof

#: The receipt type of a witnessed shard checkpoint.
TLOG_WITNESS: Final = "tlog-witness"


@dataclass(frozen=True, slots=True)
class BundleAnchors:
    """What anchoring adds to a bundle: receipts, or when to ask again, and the anchorer's keys."""

    receipts: tuple[Receipt, ...]
    next_anchor_due: str | None
    keys: tuple[str, ...]


async def bundle_anchors(conn: Conn, block: BlockHeader, interval_s: float) -> BundleAnchors:
    """The receipts linking ``block`` to anchored statements, one per kind that anchored one.

    Then the ``tlog-witness`` receipt, when a witness has cosigned a checkpoint covering the block.
    """
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
    witness = await _witness_receipt(conn, block, proofs)
    if not receipts and witness is None:
        latest = await anchors.latest_statement_at(conn)
        due = None if latest is None else (latest + timedelta(seconds=interval_s)).isoformat()
        return BundleAnchors((), due, ())
    signers = {s.key_id for stored in found for s in parse_note(stored.note).signatures}
    keys = await anchors.anchorer_verifier_keys(conn, sorted(signers)) if signers else []
    if witness is not None:
        receipts.append(witness.receipt)
        keys += await reads.verifier_keys(conn, sorted(witness.signers))
    return BundleAnchors(tuple(receipts), None, tuple(dict.fromkeys(keys)))


@dataclass(frozen=True, slots=True)
class _WitnessReceipt:
    receipt: Receipt
    #: Key ids of every signature line: the sealer's key among them is what the bundle must carry
    #: (the cosigned checkpoint may be of a later block, signed after a key rotation).
    signers: frozenset[bytes]


async def _witness_receipt(
    conn: Conn, block: BlockHeader, proofs: dict[int, list[bytes]]
) -> _WitnessReceipt | None:
    """The ``tlog-witness`` receipt of ``block``'s tree; None until a witness cosigns one covering it."""
    cosigned = await witnessed.covering_cosigned(conn, block.shard, block.tree_size)
    if cosigned is None:
        return None
    if cosigned.tree_size not in proofs:
        proofs[cosigned.tree_size] = await consistency_proof(
            conn, block.shard, block.tree_size, cosigned.tree_size
        )
    note = cosigned.cosigned_note()
    receipt = Receipt.from_json(
        {
            "type": TLOG_WITNESS,
            "checkpoint": note,
            "consistency_proof": [base64.b64encode(h).decode() for h in proofs[cosigned.tree_size]],
        }
    )
    return _WitnessReceipt(receipt, frozenset(s.key_id for s in parse_note(note).signatures))
