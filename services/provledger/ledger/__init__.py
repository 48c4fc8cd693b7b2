"""The pure heart of provledger: Merkle logs, signed blocks, checkpoints and evidence.

Seal a batch of events into a signed block, then prove one event offline::

    >>> from provledger.ledger import (
    ...     BlockHeader, CompactRange, Evidence, KeySet, SigningKey, GENESIS_PREV_HASH,
    ...     inclusion_proof, leaf_hash, root, shard_checkpoint, sign_checkpoint,
    ...     sign_header, verify_evidence,
    ... )
    >>> key = SigningKey.generate("ledger.example.com/log")
    >>> events = [b"event-0", b"event-1", b"event-2"]
    >>> leaves = [leaf_hash(e) for e in events]
    >>> tree = CompactRange().append(leaves)
    >>> header = BlockHeader(
    ...     version=1, log_id=bytes(16), shard=0, height=0, prev_block_hash=GENESIS_PREV_HASH,
    ...     batch_root=root(leaves), tree_size=tree.tree_size, log_root=tree.root,
    ...     first_offset=0, last_offset=2, event_count=3, min_event_time=0, max_event_time=0,
    ...     sealed_at=1, key_id=key.key_id,
    ... )
    >>> evidence = Evidence(
    ...     event_id="e1", canonical_event=events[1], shard=0, leaf_index=1, tree_size=3,
    ...     inclusion_proof=tuple(inclusion_proof(leaves, 1)), header=header,
    ...     header_signature=sign_header(header, key),
    ...     checkpoint=sign_checkpoint(shard_checkpoint("ledger.example.com/log", header), [key]),
    ... )
    >>> verify_evidence(Evidence.from_json(evidence.to_json()), KeySet.of([key.verifier])).ok
    True

No I/O, no asyncio, no database: every function takes and returns bytes, ints and
small frozen values, and the package imports only the standard library,
``cryptography``, pycryptodome's Keccak and :mod:`provledger.errors`. Modules: :mod:`.merkle` (RFC 9162
hashing, proofs, verification), :mod:`.proofs` (proofs from stored nodes),
:mod:`.compact` (the sealer's incremental tree), :mod:`.tiles` (C2SP tlog-tiles
addressing), :mod:`.block`, :mod:`.keys`, :mod:`.note` (C2SP signed-note),
:mod:`.checkpoint` (C2SP tlog-checkpoint), :mod:`.cosignature` (C2SP
tlog-cosignature), :mod:`.witness_policy` (which witnesses must cosign: Sigsum policy
files), :mod:`.witnessed` (cosigned shard checkpoints as receipts), :mod:`.evidence`, and
for ``evm`` receipts :mod:`.rlp`, :mod:`.mpt` (Merkle-Patricia proofs) and :mod:`.evm_receipt`.
"""

from provledger.ledger.block import (
    GENESIS_PREV_HASH,
    BlockHeader,
    block_hash,
    sign_header,
    verify_chain,
    verify_header_signature,
)
from provledger.ledger.checkpoint import (
    Checkpoint,
    ShardHead,
    heads_checkpoint,
    open_checkpoint,
    shard_checkpoint,
    shard_heads,
    sign_checkpoint,
)
from provledger.ledger.compact import AppendResult, CompactRange
from provledger.ledger.evidence import (
    Check,
    CheckStatus,
    Evidence,
    Receipt,
    ReceiptVerifier,
    VerifiedEvidence,
    verify_evidence,
)
from provledger.ledger.keys import KeySet, SigningKey, TrustedKey, VerifierKey
from provledger.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from provledger.ledger.proofs import consistency_nodes, inclusion_nodes

__all__ = [
    "GENESIS_PREV_HASH",
    "AppendResult",
    "BlockHeader",
    "Check",
    "CheckStatus",
    "Checkpoint",
    "CompactRange",
    "Evidence",
    "KeySet",
    "Receipt",
    "ReceiptVerifier",
    "ShardHead",
    "SigningKey",
    "TrustedKey",
    "VerifiedEvidence",
    "VerifierKey",
    "block_hash",
    "consistency_nodes",
    "consistency_proof",
    "heads_checkpoint",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "root",
    "shard_checkpoint",
    "shard_heads",
    "sign_checkpoint",
    "sign_header",
    "verify_chain",
    "verify_consistency",
    "verify_evidence",
    "verify_header_signature",
    "verify_inclusion",
]
