"""The sealer's incremental Merkle tree: a compact range over leaves ``[0, size)``.

The tree of ``size`` leaves is summarised by its *frontier*: the roots of the
perfect subtrees that cover ``[0, size)``, one per set bit of ``size``, highest
level first (transparency-dev/merkle's ``compact.Range`` starting at 0). Appending
a batch merges equal-level subtrees as a binary counter carries, so a batch of b
leaves costs O(b + log n) time and memory and never touches older leaves::

    >>> from provledger.ledger.compact import CompactRange
    >>> from provledger.ledger.merkle import leaf_hash, root
    >>> tree = CompactRange()
    >>> leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
    >>> result = tree.append(leaves)
    >>> result.tree_size, result.root == root(leaves)
    (3, True)
    >>> [node_id for node_id, _ in result.nodes]
    [(0, 0), (0, 1), (1, 0), (0, 2)]

``AppendResult.nodes`` lists every perfect subtree completed by the batch (the
leaves themselves at level 0) so the store can write them, for example as C2SP
tlog-tiles; :mod:`provledger.ledger.proofs` later builds any proof from them. A
restarted sealer rebuilds the range from ``(size, frontier)`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from provledger.ledger.hashing import EMPTY_ROOT, HASH_SIZE, MAX_SIZE
from provledger.ledger.proofs import NodeId, range_nodes


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one batch did: the new size and root, and the nodes to store."""

    tree_size: int
    root: bytes
    #: ``((level, index), hash)`` of each perfect subtree the batch completed, in
    #: the order they were completed (a child always before its parent).
    nodes: list[tuple[NodeId, bytes]]


class CompactRange:
    """The frontier of a growing RFC 9162 tree; appends leaf hashes in batches.

    Not thread-safe: one sealer owns one shard's range.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        """Restore the range of a tree of ``size`` leaves from its frontier hashes.

        ``frontier`` MUST hold one hash per set bit of ``size``, highest level first:
        the roots of the subtrees :func:`~provledger.ledger.proofs.range_nodes` gives
        for ``[0, size)``.
        """
        if not 0 <= size <= MAX_SIZE:
            raise ValueError(f"tree size {size} is not a uint64")
        if len(frontier) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} frontier hashes, got {len(frontier)}"
            )
        for value in frontier:
            if len(value) != HASH_SIZE:
                raise ValueError(f"a frontier hash has {len(value)} bytes, not {HASH_SIZE}")
        self._size = size
        # Lowest level last, so merging is a stack pop.
        self._frontier = list(frontier)

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """The hashes to persist to restore this range later, highest level first."""
        return tuple(self._frontier)

    def frontier_ids(self) -> list[NodeId]:
        """The ``(level, index)`` of each frontier hash, in the order of :attr:`frontier`."""
        return range_nodes(0, self._size)

    def root(self) -> bytes:
        """The Merkle Tree Hash of all leaves so far: the frontier folded right to left."""
        if not self._frontier:
            return EMPTY_ROOT
        result = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            result = sha256(b"\x01" + left + result).digest()
        return result

    def append(self, leaf_hashes: Sequence[bytes]) -> AppendResult:
        """Append a batch of leaf hashes; return the new size, root and completed nodes.

        The batch is checked before anything changes, so a bad hash leaves the
        range as it was.
        """
        for value in leaf_hashes:
            if len(value) != HASH_SIZE:
                raise ValueError(f"a leaf hash has {len(value)} bytes, not {HASH_SIZE}")
        if self._size + len(leaf_hashes) > MAX_SIZE:
            raise ValueError("the tree would outgrow a uint64 size")
        frontier = self._frontier
        pop, push = frontier.pop, frontier.append
        nodes: list[tuple[NodeId, bytes]] = []
        record = nodes.append
        size = self._size
        for value in leaf_hashes:
            record(((0, size), value))
            # Each trailing one bit of the old size is a perfect subtree of that
            # level waiting for a right sibling: merge like a carry.
            level = 0
            while (size >> level) & 1:
                value = sha256(b"\x01" + pop() + value).digest()
                level += 1
                record(((level, size >> level), value))
            push(value)
            size += 1
        self._size = size
        return AppendResult(size, self.root(), nodes)
