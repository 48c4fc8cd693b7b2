"""A tiny in-memory sealer for tests: events in, signed blocks and evidence out.

It does what the real sealer will do with the ledger core, minus Kafka and Postgres,
so block, checkpoint and evidence tests start from a genuine chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provledger.ledger.block import GENESIS_PREV_HASH, BlockHeader, block_hash, log_id_for, sign_header
from provledger.ledger.checkpoint import shard_checkpoint, sign_checkpoint
from provledger.ledger.compact import CompactRange
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import leaf_hash, root
from provledger.ledger.proofs import NodeId, inclusion_proof_from

LOG_ORIGIN = "ledger.example.com/log"
LOG_ID = log_id_for(LOG_ORIGIN)
#: 2026-11-24T00:00:00Z in microseconds.
T0 = 1_795_478_400_000_000


def fixed_key(name: str = LOG_ORIGIN, seed: int = 1) -> SigningKey:
    """A deterministic key, so failures reproduce."""
    return SigningKey.from_seed(name, bytes([seed]) * 32)


@dataclass
class Shard:
    """One shard's log as sealed so far."""

    shard: int = 0
    events: list[bytes] = field(default_factory=list)
    headers: list[BlockHeader] = field(default_factory=list)
    signatures: list[bytes] = field(default_factory=list)
    tree: CompactRange = field(default_factory=CompactRange)
    nodes: dict[NodeId, bytes] = field(default_factory=dict)

    def seal(self, events: list[bytes], key: SigningKey, sealed_at: int | None = None) -> BlockHeader:
        """Seal one block of ``events`` with ``key``; return its header."""
        leaves = [leaf_hash(e) for e in events]
        result = self.tree.append(leaves)
        self.nodes.update(result.nodes)
        height = len(self.headers)
        offset = len(self.events)
        header = BlockHeader(
            version=1,
            log_id=LOG_ID,
            shard=self.shard,
            height=height,
            prev_block_hash=block_hash(self.headers[-1]) if self.headers else GENESIS_PREV_HASH,
            batch_root=root(leaves),
            tree_size=result.tree_size,
            log_root=result.root,
            first_offset=offset,
            last_offset=offset + len(events) - 1,
            event_count=len(events),
            min_event_time=T0 + offset,
            max_event_time=T0 + offset + len(events) - 1,
            sealed_at=T0 + 1_000_000 * (height + 1) if sealed_at is None else sealed_at,
            key_id=key.key_id,
        )
        self.events.extend(events)
        self.headers.append(header)
        self.signatures.append(sign_header(header, key))
        return header

    def evidence(self, leaf_index: int, key: SigningKey, receipts: tuple[Receipt, ...] = ()) -> Evidence:
        """The bundle for one event, against the block that sealed it."""
        height = next(h.height for h in self.headers if leaf_index < h.tree_size)
        header = self.headers[height]
        proof = inclusion_proof_from(lambda ids: [self.nodes[i] for i in ids], leaf_index, header.tree_size)
        return Evidence(
            event_id=f"event-{leaf_index}",
            canonical_event=self.events[leaf_index],
            shard=self.shard,
            leaf_index=leaf_index,
            tree_size=header.tree_size,
            inclusion_proof=tuple(proof),
            header=header,
            header_signature=self.signatures[height],
            checkpoint=sign_checkpoint(shard_checkpoint(LOG_ORIGIN, header), [key]),
            receipts=receipts,
            keys=(key.verifier.verifier_key_string(),),
        )


def sealed_shard(key: SigningKey, block_sizes: tuple[int, ...] = (3, 5, 1, 8), shard: int = 0) -> Shard:
    """A shard with blocks of the given sizes, events named by their leaf index."""
    result = Shard(shard=shard)
    for size in block_sizes:
        start = len(result.events)
        result.seal([f"event {shard}/{start + i}".encode() for i in range(size)], key)
    return result
