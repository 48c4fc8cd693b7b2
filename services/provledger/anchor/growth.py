"""Check that a shard's log only grew since its last anchored head, before anchoring the new one.

The anchorer signs a statement naming each shard's newest block. Before it does, for every
shard whose head moved since the last stored statement, it MUST establish that the new head
extends the anchored one; otherwise whoever rewrote the database (a stolen sealer key, a restored
backup sealed over) would get the rewritten history anchored too. Three checks, as issue 17 and
ARCHITECTURE.md section 3 ask:

1. the new header's Ed25519 signature under the sealer key valid at its ``sealed_at``;
2. its hash chain back to the anchored head: the anchored header itself, read again, still
   hashes to the block hash the statement names, and each later header's ``prev_block_hash``
   names the one before (:func:`provledger.ledger.block.verify_chain`);
3. an RFC 9162 consistency proof, built from the stored tiles, from the anchored
   ``(tree_size, log_root)`` to the new one. SPEC: RFC 9162 2.1.4.2, "verify that [the
   computed] fr is equal to first_hash [and] sr is equal to second_hash"
   (:func:`provledger.ledger.merkle.verify_consistency`).

A head that went down (a lower height, or the same height with another hash) is a fork too.
Any failure is a :class:`ForkDetected` naming the shard, both heights and both roots.

Everything here is pure: the caller reads the rows and the proof (:mod:`provledger.store.anchors`,
:func:`provledger.store.tiles.consistency_proofs`) and passes them in.

Known limit: the sealer keys come from the same database (:func:`provledger.store.keys.load_keyset`),
so whoever can rewrite the database can also register a key of their own for a rewritten header;
the chain and consistency checks still catch a rewrite below an anchored head, but not a forged
head on a shard never anchored before. Issue 19 gives the anchorer its own pinned key set.

    >>> from provledger.store.anchors import AnchoredHead, HeadBlock
    >>> old = AnchoredHead(0, 3, 10, b"\\x01" * 32, b"\\x02" * 32)
    >>> new = HeadBlock(0, 2, b"\\x03" * 32, b"", b"", 8, b"\\x04" * 32)
    >>> try:
    ...     check_growth(Growth(old, (new,), ()), keyset=None)
    ... except ForkDetected as fork:
    ...     print(fork.shard, fork.anchored_height, fork.new_height)
    0 3 2
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from provledger.errors import VerificationError
from provledger.ledger.block import BlockHeader, block_hash, verify_chain, verify_header_signature
from provledger.ledger.keys import KeySet
from provledger.ledger.merkle import verify_consistency
from provledger.store.anchors import AnchoredHead, HeadBlock


class ForkDetected(VerificationError):
    """The ledger's history does not extend what was anchored: anchor nothing more (fail closed).

    ``shard`` is None when the fork is in the anchorer's own history (a restored database whose
    statements disagree with what the anchorer published), not in one shard's log.
    """

    def __init__(
        self,
        reason: str,
        *,
        shard: int | None = None,
        anchored_height: int | None = None,
        anchored_root: bytes | None = None,
        new_height: int | None = None,
        new_root: bytes | None = None,
    ) -> None:
        self.reason = reason
        self.shard = shard
        self.anchored_height = anchored_height
        self.anchored_root = anchored_root
        self.new_height = new_height
        self.new_root = new_root
        where = "the anchorer's history" if shard is None else f"shard {shard}"
        super().__init__(
            f"fork in {where}: {reason}. Anchoring stopped; find out who rewrote the ledger "
            "(`provledger audit`), then restart the anchorer once it is settled"
        )

    def fields(self) -> dict[str, object]:
        """The fork's details as log fields: shard, both heights and both roots (base64)."""

        def b64(value: bytes | None) -> str | None:
            return None if value is None else base64.b64encode(value).decode()

        return {
            "shard": self.shard,
            "anchored_height": self.anchored_height,
            "anchored_root": b64(self.anchored_root),
            "new_height": self.new_height,
            "new_root": b64(self.new_root),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Growth:
    """What one shard's check needs: its anchored head, the blocks since, and a consistency proof.

    ``blocks`` runs from the anchored height to the new head, both included (only the new head
    when nothing of this shard was anchored yet); ``proof`` goes from the anchored tree size to
    the new head's.
    """

    anchored: AnchoredHead | None
    blocks: tuple[HeadBlock, ...]
    proof: tuple[bytes, ...]

    @property
    def head(self) -> HeadBlock:
        """The shard's newest block."""
        return self.blocks[-1]


def moved(anchored: AnchoredHead | None, head: HeadBlock) -> bool:
    """Whether ``head`` differs from the anchored head (a new shard moved from nothing)."""
    return anchored is None or (anchored.height, anchored.block_hash) != (head.height, head.block_hash)


def _header(block: HeadBlock) -> BlockHeader:
    """The header of a stored block, after checking the row's columns say what its bytes say."""
    try:
        header = BlockHeader.from_bytes(block.header)
    except (ValueError, VerificationError) as exc:
        raise VerificationError(f"block {block.shard}/{block.height} header does not decode: {exc}") from exc
    if block_hash(header) != block.block_hash:
        raise VerificationError(f"block {block.shard}/{block.height}: block_hash is not the header's hash")
    if (header.shard, header.height, header.tree_size, header.log_root) != (
        block.shard,
        block.height,
        block.tree_size,
        block.log_root,
    ):
        raise VerificationError(f"block {block.shard}/{block.height}: row columns differ from its header")
    return header


def _check(growth: Growth, keyset: KeySet) -> None:
    anchored, head = growth.anchored, growth.head
    headers = [_header(block) for block in growth.blocks]
    verify_header_signature(headers[-1], head.signature, keyset)
    if anchored is None:
        return
    first = growth.blocks[0]
    if (first.height, first.block_hash) != (anchored.height, anchored.block_hash):
        raise VerificationError(
            f"the anchored block {anchored.height} is no longer stored as it was anchored"
        )
    if (first.tree_size, first.log_root) != (anchored.tree_size, anchored.log_root):
        raise VerificationError("the statement's stored tree for the anchored head differs from its header")
    if [h.height for h in headers] != list(range(anchored.height, head.height + 1)):
        raise VerificationError(f"blocks {anchored.height} to {head.height} are not all stored")
    verify_chain(headers)
    verify_consistency(anchored.tree_size, head.tree_size, anchored.log_root, head.log_root, growth.proof)


def shard_fork(reason: str, anchored: AnchoredHead | None, head: HeadBlock) -> ForkDetected:
    """The fork of ``head``'s shard, naming both heights and both roots."""
    return ForkDetected(
        reason,
        shard=head.shard,
        anchored_height=None if anchored is None else anchored.height,
        anchored_root=None if anchored is None else anchored.log_root,
        new_height=head.height,
        new_root=head.log_root,
    )


def check_growth(growth: Growth, keyset: KeySet) -> None:
    """Raise :class:`ForkDetected` unless the shard's new head extends its anchored head."""
    anchored, head = growth.anchored, growth.head
    if anchored is not None and head.height < anchored.height:
        raise shard_fork(f"its head went down from height {anchored.height} to {head.height}", anchored, head)
    if anchored is not None and head.height == anchored.height and head.block_hash != anchored.block_hash:
        raise shard_fork(f"block {head.height} is not the block anchored at that height", anchored, head)
    try:
        _check(growth, keyset)
    except VerificationError as exc:
        raise shard_fork(str(exc), anchored, head) from exc


def check_all(growths: Sequence[Growth], keyset: KeySet) -> None:
    """Check every moved shard; the first fork found stops the check (nothing is anchored then)."""
    for growth in growths:
        check_growth(growth, keyset)
