"""Receipts with real links for in-memory shards: a signed statement naming a head, and the proof.

What the API builds from Postgres (statement, anchored head header, consistency proof), built here
from a :class:`~tests.helpers.ledger_sealing.Shard` so the pure link check can be tested alone.
"""

from __future__ import annotations

from typing import Any

from provledger.ledger.anchoring import AnchorLink
from provledger.ledger.block import block_hash
from provledger.ledger.checkpoint import ShardHead, heads_checkpoint, sign_checkpoint
from provledger.ledger.evidence import Receipt
from provledger.ledger.keys import SigningKey
from provledger.ledger.proofs import consistency_proof_from
from tests.helpers.ledger_sealing import LOG_ORIGIN, Shard


def statement(shards: list[tuple[Shard, int]], signer: SigningKey, origin: str = LOG_ORIGIN) -> str:
    """The shard-heads statement naming block ``height`` of each shard, signed by ``signer``."""
    heads = [ShardHead(s.shard, h, block_hash(s.headers[h])) for s, h in shards]
    return sign_checkpoint(heads_checkpoint(origin, heads), [signer])


def link(shard: Shard, from_height: int, to_height: int, seq: int = 1) -> AnchorLink:
    """The link from block ``from_height``'s tree to the anchored head ``to_height``."""
    old, new = shard.headers[from_height].tree_size, shard.headers[to_height].tree_size
    proof = consistency_proof_from(lambda ids: [shard.nodes[i] for i in ids], old, new)
    return AnchorLink(
        seq, shard.shard, to_height, shard.headers[to_height], shard.signatures[to_height], tuple(proof)
    )


def linked_receipt(kind: str, note: str, anchor_link: AnchorLink, **fields: Any) -> Receipt:
    """A receipt of ``kind`` holding the statement, the link and the kind's ``fields``."""
    return Receipt.from_json({"type": kind, **fields, "statement": note, "link": anchor_link.to_json()})
