"""RFC 9162 Merkle tree math on plain bytes and ints: roots, proofs, verification.

Outside verifiers call these names, so they follow RFC 9162 section 2.1 to the
letter and take nothing but bytes and ints::

    >>> from provledger.ledger.merkle import leaf_hash, root, inclusion_proof, verify_inclusion
    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> verify_inclusion(leaves[3], 3, 5, inclusion_proof(leaves, 3), root(leaves))

Verification raises :class:`~provledger.errors.VerificationError` with the reason;
it returns ``None`` when the proof holds. Edge cases follow the transparency-dev/merkle
vectors: an index outside the tree, an old size of 0 or above the new size, a proof
too long or too short, and any hash that is not 32 bytes are all rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

from provledger.errors import VerificationError
from provledger.ledger.hashing import EMPTY_ROOT, HASH_SIZE, MAX_SIZE, leaf_hash, node_hash
from provledger.ledger.proofs import NodeId, consistency_nodes, inclusion_nodes

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of the given leaf hashes (SHA-256 of nothing for none).

    SPEC: RFC 9162 2.1.1: for n > 1, "let k be the largest power of two smaller
    than n" and split there. Hashing pairs level by level and carrying an odd last
    node up unchanged gives the same tree, without recursion.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    for value in level:
        if len(value) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {len(value)} bytes, not {HASH_SIZE}")
    while len(level) > 1:
        pairs = iter(level)
        upper = [sha256(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]
        if len(level) % 2:
            upper.append(level[-1])
        level = upper
    return level[0]


def _perfect_hashes(leaf_hashes: Sequence[bytes], ids: Sequence[NodeId]) -> list[bytes]:
    return [root(leaf_hashes[index << level : (index + 1) << level]) for level, index in ids]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of all ``leaf_hashes``.

    SPEC: RFC 9162 2.1.3.1. Costs O(n) hashing; a log answers from stored nodes
    with :mod:`provledger.ledger.proofs` instead.
    """
    plan = inclusion_nodes(index, len(leaf_hashes))
    return plan.rehash(_perfect_hashes(leaf_hashes, plan.ids))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The consistency proof from the first ``old_size`` leaves to all ``leaf_hashes``.

    SPEC: RFC 9162 2.1.4.1. ``old_size`` must be between 1 and ``len(leaf_hashes)``.
    """
    plan = consistency_nodes(old_size, len(leaf_hashes))
    return plan.rehash(_perfect_hashes(leaf_hashes, plan.ids))


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} has {len(value)} bytes, a SHA-256 hash has {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        _check_hash(f"proof element {position}", value)


def _right_shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    while not fn & 1 and fn:
        fn >>= 1
        sn >>= 1
    return fn, sn


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    SPEC: RFC 9162 2.1.3.2, step by step: "If leaf_index is greater than or equal
    to tree_size, then fail"; walk the path with fn = leaf_index, sn = tree_size - 1;
    "If sn is equal to 0 and r and the root_hash are equal, then the log has proven
    the inclusion of hash. Otherwise, fail the proof verification."
    """
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    _check_proof_hashes(proof)
    if not 0 <= index < size <= MAX_SIZE:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise VerificationError(
                f"inclusion proof is too long: {len(proof)} hashes for leaf {index} of {size}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _right_shift_until_odd_or_zero(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(
            f"inclusion proof is too short: {len(proof)} hashes for leaf {index} of {size}"
        )
    if r != root:
        raise VerificationError(
            f"inclusion proof for leaf {index} of {size} gives root {r.hex()}, expected {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` leaves and ``new_root`` extends the one of ``old_size``.

    SPEC: RFC 9162 2.1.4.2. Before it, as the transparency-dev vectors expect: an
    ``old_size`` of 0 proves nothing and is rejected, as is ``old_size > new_size``;
    equal sizes need an empty proof and identical roots, and since nothing is
    hashed then, the roots are compared as they are (the vector "sizes are equal
    (one) and proof is empty" uses short stand-in roots and must verify).
    """
    if not 0 <= old_size <= MAX_SIZE or not 0 <= new_size <= MAX_SIZE:
        raise VerificationError(f"tree sizes {old_size} and {new_size} are not uint64")
    if old_size == 0:
        raise VerificationError("consistency with the empty tree (old size 0) proves nothing; refusing it")
    if old_size > new_size:
        raise VerificationError(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == new_size:
        if proof:
            raise VerificationError(f"sizes are equal ({old_size}) but the proof has {len(proof)} hashes")
        if old_root != new_root:
            raise VerificationError(f"sizes are equal ({old_size}) but the roots differ")
        return
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof_hashes(proof)
    if not proof:
        raise VerificationError(f"empty consistency proof from size {old_size} to {new_size}")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # SPEC: "If first is an exact power of 2, then prepend first_hash to the
        # consistency_path array."
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(f"consistency proof from {old_size} to {new_size} is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _right_shift_until_odd_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"consistency proof from {old_size} to {new_size} is too short")
    if fr != old_root:
        raise VerificationError(f"consistency proof gives old root {fr.hex()}, expected {old_root.hex()}")
    if sr != new_root:
        raise VerificationError(f"consistency proof gives new root {sr.hex()}, expected {new_root.hex()}")
