"""The fast Merkle code agrees with the RFC 9162 reference on random trees, and rejects tampering."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers import rfc9162_reference as ref

from provledger.errors import VerificationError
from provledger.ledger.compact import CompactRange
from provledger.ledger.hashing import EMPTY_ROOT
from provledger.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)
from provledger.ledger.proofs import NodeId, consistency_proof_from, inclusion_proof_from, range_nodes

MAX_LEAVES = 3000
sizes = st.integers(min_value=1, max_value=MAX_LEAVES)
# Small trees hold most edge cases; weight them so they are not drowned by large ones.
small_or_large = st.one_of(st.integers(min_value=1, max_value=70), sizes)
modest = settings(max_examples=40, deadline=None)


def _flip_bit(data: bytes, bit: int) -> bytes:
    position = bit % (len(data) * 8)
    mutable = bytearray(data)
    mutable[position // 8] ^= 1 << (position % 8)
    return bytes(mutable)


def _rejects(verify: Callable[[], None]) -> bool:
    try:
        verify()
    except VerificationError:
        return True
    return False


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT == ref.mth([])


@modest
@given(size=small_or_large)
def test_root_matches_reference(size: int) -> None:
    leaves = ref.leaves(size)
    assert root(leaves) == ref.mth(leaves)


@modest
@given(size=small_or_large, data=st.data())
def test_inclusion_proof_matches_reference_and_verifies(size: int, data: st.DataObject) -> None:
    leaves = ref.leaves(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(leaves, index)
    assert proof == ref.path(index, leaves)
    verify_inclusion(leaves[index], index, size, proof, ref.mth(leaves))


@modest
@given(size=small_or_large.filter(lambda n: n > 1), data=st.data())
def test_consistency_proof_matches_reference_and_verifies(size: int, data: st.DataObject) -> None:
    leaves = ref.leaves(size)
    old_size = data.draw(st.integers(min_value=1, max_value=size), label="old_size")
    proof = consistency_proof(leaves, old_size)
    assert proof == ref.proof(old_size, leaves)
    verify_consistency(old_size, size, ref.mth(leaves[:old_size]), ref.mth(leaves), proof)


@modest
@given(size=small_or_large, data=st.data())
def test_tampered_inclusion_proofs_are_rejected(size: int, data: st.DataObject) -> None:
    leaves = ref.leaves(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = ref.path(index, leaves)
    good_root = ref.mth(leaves)
    tampers = [
        ("wrong leaf", _flip_bit(leaves[index], data.draw(st.integers(0, 255))), index, proof, good_root),
        ("wrong root", leaves[index], index, proof, _flip_bit(good_root, data.draw(st.integers(0, 255)))),
        ("extra hash", leaves[index], index, [*proof, good_root], good_root),
    ]
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        flipped = list(proof)
        flipped[position] = _flip_bit(flipped[position], data.draw(st.integers(0, 255)))
        tampers += [
            ("flipped bit", leaves[index], index, flipped, good_root),
            ("dropped hash", leaves[index], index, proof[:position] + proof[position + 1 :], good_root),
            ("short hash", leaves[index], index, [proof[0][:31], *proof[1:]], good_root),
        ]
    for reason, leaf, at, bad_proof, bad_root in tampers:
        assert _rejects(partial(verify_inclusion, leaf, at, size, bad_proof, bad_root)), f"{reason} accepted"


@modest
@given(size=small_or_large.filter(lambda n: n > 1), data=st.data())
def test_tampered_consistency_proofs_are_rejected(size: int, data: st.DataObject) -> None:
    leaves = ref.leaves(size)
    old_size = data.draw(st.integers(min_value=1, max_value=size - 1), label="old_size")
    proof = ref.proof(old_size, leaves)
    old_root, new_root = ref.mth(leaves[:old_size]), ref.mth(leaves)
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    flipped = list(proof)
    flipped[position] = _flip_bit(flipped[position], data.draw(st.integers(0, 255)))
    tampers = [
        ("flipped bit", old_root, new_root, flipped),
        ("dropped hash", old_root, new_root, proof[:position] + proof[position + 1 :]),
        ("extra hash", old_root, new_root, [*proof, new_root]),
        ("wrong old root", _flip_bit(old_root, 7), new_root, proof),
        ("wrong new root", old_root, _flip_bit(new_root, 7), proof),
    ]
    for reason, first, second, bad_proof in tampers:
        assert _rejects(partial(verify_consistency, old_size, size, first, second, bad_proof)), (
            f"{reason} accepted"
        )


@modest
@given(
    size=small_or_large,
    cuts=st.lists(st.integers(min_value=0, max_value=MAX_LEAVES), max_size=6),
    restore_at=st.integers(min_value=0, max_value=6),
)
def test_compact_range_matches_reference_across_batches_and_restores(
    size: int, cuts: list[int], restore_at: int
) -> None:
    leaves = ref.leaves(size)
    bounds = sorted({0, size, *(c % (size + 1) for c in cuts)})
    tree = CompactRange()
    emitted: dict[NodeId, bytes] = {}
    for batch, (start, end) in enumerate(pairwise(bounds)):
        if batch == restore_at:
            # A restarted sealer continues from the persisted frontier alone.
            tree = CompactRange(tree.size, tree.frontier)
        result = tree.append(leaves[start:end])
        assert (result.tree_size, result.root) == (end, ref.mth(leaves[:end]))
        for node_id, value in result.nodes:
            assert node_id not in emitted
            emitted[node_id] = value
        assert tree.frontier_ids() == range_nodes(0, end)
    # Every perfect subtree of the final tree was emitted once, with the reference hash.
    expected = {(level, i) for level in range(size.bit_length()) for i in range(size >> level)}
    assert set(emitted) == expected
    for (level, index), value in emitted.items():
        assert value == ref.mth(leaves[index << level : (index + 1) << level])


def test_compact_range_rejects_bad_input_without_changing() -> None:
    tree = CompactRange()
    tree.append(ref.leaves(5))
    with pytest.raises(ValueError, match="31 bytes"):
        tree.append([*ref.leaves(2, salt=1), b"x" * 31])
    assert tree.size == 5
    assert tree.root() == ref.mth(ref.leaves(5))
    with pytest.raises(ValueError, match="frontier hashes"):
        CompactRange(5, tree.frontier[:1])


@modest
@given(size=small_or_large, data=st.data())
def test_proofs_from_stored_nodes_read_only_perfect_nodes_logarithmically(
    size: int, data: st.DataObject
) -> None:
    leaves = ref.leaves(size)
    stored = dict(CompactRange().append(leaves).nodes)
    reads: list[NodeId] = []

    def get_nodes(ids: Sequence[NodeId]) -> list[bytes]:
        reads.extend(ids)
        return [stored[node_id] for node_id in ids]  # KeyError: an imperfect node was asked for

    at_size = data.draw(st.integers(min_value=1, max_value=size), label="tree size")
    index = data.draw(st.integers(min_value=0, max_value=at_size - 1), label="index")
    assert inclusion_proof_from(get_nodes, index, at_size) == ref.path(index, leaves[:at_size])
    bound = 2 * math.ceil(math.log2(at_size)) + 1
    assert len(reads) <= bound

    reads.clear()
    old_size = data.draw(st.integers(min_value=1, max_value=at_size), label="old size")
    expected = ref.proof(old_size, leaves[:at_size]) if old_size < at_size else []
    assert consistency_proof_from(get_nodes, old_size, at_size) == expected
    assert len(reads) <= bound + 1


@pytest.mark.parametrize(
    ("index", "size"), [(0, 0), (3, 3), (-1, 4)], ids=["empty tree", "index at size", "negative index"]
)
def test_inclusion_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(ref.leaves(size), index)
    with pytest.raises(VerificationError, match="outside"):
        verify_inclusion(bytes(32), index, size, [], bytes(32))
