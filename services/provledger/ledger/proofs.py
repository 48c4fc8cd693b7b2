"""Plan and assemble RFC 9162 proofs from stored perfect-subtree hashes.

A log that keeps its interior hashes (as C2SP tlog-tiles, see :mod:`.tiles`) never
recomputes from all leaves: an inclusion or consistency proof for tree size N is a
list of O(log N) hashes, each the root of a perfect subtree, except at most one
*ephemeral* node on the right edge of the tree that is not perfect in a tree of
size N. That node is rebuilt from the perfect subtrees that cover its range.

The split is the one of transparency-dev/merkle's ``proof`` package, so a store
can fetch every hash it needs in one query::

    plan = inclusion_nodes(index, size)          # pure: which (level, index) nodes
    hashes = await store.read_nodes(plan.ids)    # the store's single round trip
    proof = plan.rehash(hashes)                  # pure: fold the ephemeral node

A node id is ``(level, index)``: level 0 holds the leaf hashes, and node
``(level, index)`` is the root of leaves ``[index * 2**level, (index + 1) * 2**level)``.
Only perfect (complete) subtrees are ever asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provledger.ledger.hashing import HASH_SIZE, MAX_SIZE, node_hash

#: ``(level, index)`` of a perfect subtree.
NodeId = tuple[int, int]

#: Reads stored perfect-subtree hashes, returned in the order of the ids asked for.
GetNodes = Callable[[Sequence[NodeId]], Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class ProofNodes:
    """The perfect nodes a proof is built from, and where its ephemeral node lies.

    ``ids[begin:end]`` (empty when ``begin == end``) are the perfect subtrees that
    cover the ephemeral node, lowest level (rightmost) first; every other id is a
    proof element as it is.
    """

    ids: tuple[NodeId, ...]
    begin: int = 0
    end: int = 0

    def rehash(self, hashes: Sequence[bytes]) -> list[bytes]:
        """The proof, given the stored hashes of :attr:`ids` in the same order.

        Raises ``ValueError`` if the count or a hash size is wrong: that is a
        storage fault, not a property of the proof.
        """
        if len(hashes) != len(self.ids):
            raise ValueError(f"got {len(hashes)} node hashes, the plan needs {len(self.ids)}")
        for node_id, value in zip(self.ids, hashes, strict=True):
            if len(value) != HASH_SIZE:
                raise ValueError(f"stored hash of node {node_id} has {len(value)} bytes, not {HASH_SIZE}")
        if self.begin == self.end:
            return list(hashes)
        ephemeral = hashes[self.begin]
        for i in range(self.begin + 1, self.end):
            ephemeral = node_hash(hashes[i], ephemeral)
        return [*hashes[: self.begin], ephemeral, *hashes[self.end :]]

    def _skip_first(self) -> ProofNodes:
        if self.begin < self.end:
            return ProofNodes(self.ids[1:], self.begin - 1, self.end - 1)
        return ProofNodes(self.ids[1:])


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """The perfect subtrees that exactly cover leaves ``[begin, end)``, left to right.

    This is the compact range of transparency-dev/merkle's ``compact.RangeNodes``:
    at most two per level, O(log(end - begin)) in all.
    """
    if not 0 <= begin <= end <= MAX_SIZE:
        raise ValueError(f"invalid leaf range [{begin}, {end})")
    if begin == 0:
        left_mask, right_mask = 0, end
    else:
        # Below the level where the paths to leaves begin-1 and end diverge, the
        # range holds the subtrees right of the path to begin-1 (its zero bits)
        # and left of the path to end (its one bits).
        last = begin - 1
        mask = (1 << ((last ^ end).bit_length() - 1)) - 1
        left_mask, right_mask = ~last & mask, end & mask
    nodes: list[NodeId] = []
    position = begin
    while left_mask:
        level = (left_mask & -left_mask).bit_length() - 1
        nodes.append((level, position >> level))
        position += 1 << level
        left_mask ^= 1 << level
    while right_mask:
        level = right_mask.bit_length() - 1
        nodes.append((level, position >> level))
        position += 1 << level
        right_mask ^= 1 << level
    return nodes


def _path_nodes(index: int, level: int, size: int) -> ProofNodes:
    """The nodes proving that node ``(level, index)`` is in the tree of ``size`` leaves.

    The first id is the node itself (callers that know it drop it). Then come the
    siblings up to the *fork*, where the path to the node leaves the path to leaf
    ``size``; then the subtrees covering the fork's sibling (the ephemeral node,
    which is perfect only by chance); then the subtrees left of the fork.
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    fork_index = index >> inner
    ids: list[NodeId] = [(level, index)]
    for step in range(inner):
        ids.append((level + step, (index >> step) ^ 1))
    begin = len(ids)
    right = range_nodes((fork_index + 1) << fork_level, size)
    right.reverse()
    ids.extend(right)
    end = len(ids)
    left = range_nodes(0, fork_index << fork_level)
    left.reverse()
    ids.extend(left)
    if begin >= end:
        begin = end = 0
    return ProofNodes(tuple(ids), begin, end)


def inclusion_nodes(index: int, size: int) -> ProofNodes:
    """The nodes of the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    SPEC: RFC 9162 2.1.3.1: the proof is "the shortest list of additional nodes in
    the Merkle Tree required to compute the Merkle Tree Hash for that tree".
    """
    if not 0 <= index < size <= MAX_SIZE:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    return _path_nodes(index, 0, size)._skip_first()


def consistency_nodes(old_size: int, new_size: int) -> ProofNodes:
    """The nodes of the consistency proof from tree size ``old_size`` to ``new_size``.

    The proof is the root of the largest perfect subtree ending at ``old_size`` (left
    out when ``old_size`` is a power of two, since the verifier holds it as the old
    root) followed by its inclusion path in the new tree. SPEC: RFC 9162 2.1.4.1.
    Equal sizes give an empty proof; ``old_size`` 0 has no proof at all.
    """
    if not 0 < old_size <= new_size <= MAX_SIZE:
        raise ValueError(f"no consistency proof from tree size {old_size} to {new_size}")
    if old_size == new_size:
        return ProofNodes(())
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    nodes = _path_nodes(index, level, new_size)
    return nodes._skip_first() if index == 0 else nodes


def inclusion_proof_from(get_nodes: GetNodes, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` at ``size``, read through ``get_nodes`` in one call."""
    plan = inclusion_nodes(index, size)
    return plan.rehash(get_nodes(plan.ids))


def consistency_proof_from(get_nodes: GetNodes, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof from ``old_size`` to ``new_size``, read through ``get_nodes`` in one call."""
    plan = consistency_nodes(old_size, new_size)
    return plan.rehash(get_nodes(plan.ids))
