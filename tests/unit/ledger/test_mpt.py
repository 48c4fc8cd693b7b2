"""Merkle-Patricia tries: the published roots, and proofs that hold exactly for what they prove."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provledger.errors import VerificationError
from provledger.ledger import mpt, rlp

VECTORS = json.loads((Path(__file__).parent / "evm_vectors" / "trietest.json").read_text())


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:]) if text.startswith("0x") else text.encode()


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_published_trie_roots(name: str) -> None:
    entries: dict[bytes, bytes] = {}
    for key, value in VECTORS[name]["in"]:
        if value is None:
            entries.pop(_bytes(key), None)
        else:
            entries[_bytes(key)] = _bytes(value)
    assert mpt.trie_root(entries).hex() == VECTORS[name]["root"][2:]
    for key, value in entries.items():
        root, proof = mpt.prove(entries, key)
        assert mpt.verify_proof(root, key, proof) == value


def _index_key(index: int) -> bytes:
    return rlp.encode(rlp.encode_int(index))


# Receipts tries: keys rlp(0..n-1), values of any size (inline nodes below 32 bytes, hashed above).
receipts = st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=300)


@given(receipts, st.data())
def test_every_receipt_is_proven_under_the_root(values: list[bytes], data: st.DataObject) -> None:
    entries = {_index_key(i): v for i, v in enumerate(values)}
    index = data.draw(st.integers(0, len(values) - 1))
    root, proof = mpt.prove(entries, _index_key(index))
    assert root == mpt.trie_root(entries)
    assert mpt.verify_proof(root, _index_key(index), proof) == values[index]


@given(receipts, st.data())
def test_any_changed_byte_of_a_proof_fails(values: list[bytes], data: st.DataObject) -> None:
    entries = {_index_key(i): v for i, v in enumerate(values)}
    index = data.draw(st.integers(0, len(values) - 1))
    root, proof = mpt.prove(entries, _index_key(index))
    node = data.draw(st.integers(0, len(proof) - 1))
    at = data.draw(st.integers(0, len(proof[node]) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(proof[node])
    changed[at] ^= flip
    tampered = (*proof[:node], bytes(changed), *proof[node + 1 :])
    with pytest.raises(VerificationError):
        mpt.verify_proof(root, _index_key(index), tampered)


@given(receipts, st.data())
def test_a_proof_proves_nothing_else(values: list[bytes], data: st.DataObject) -> None:
    entries = {_index_key(i): v for i, v in enumerate(values)}
    index = data.draw(st.integers(0, len(values) - 1))
    root, proof = mpt.prove(entries, _index_key(index))
    other = data.draw(st.integers(0, 1000).filter(lambda i: i != index))
    if other < len(values):  # another entry may share every node of the proof; its value differs
        with contextlib.suppress(VerificationError):
            assert mpt.verify_proof(root, _index_key(other), proof) == values[other]
    else:
        with pytest.raises(VerificationError):
            mpt.verify_proof(root, _index_key(other), proof)
    with pytest.raises(VerificationError):
        mpt.verify_proof(mpt.keccak256(root), _index_key(index), proof)
    with pytest.raises(VerificationError, match="past the value"):
        mpt.verify_proof(root, _index_key(index), (*proof, proof[-1]))
    if len(proof) > 1:
        with pytest.raises(VerificationError):
            mpt.verify_proof(root, _index_key(index), proof[:-1])


def test_empty_root_and_bounds() -> None:
    assert mpt.trie_root({}).hex() == "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    with pytest.raises(VerificationError, match="not 1 to"):
        mpt.verify_proof(mpt.EMPTY_ROOT, b"\x80", ())
    with pytest.raises(VerificationError, match="not 1 to"):
        mpt.verify_proof(mpt.EMPTY_ROOT, b"\x80", (b"\xc0",) * (mpt.MAX_PROOF_NODES + 1))


def test_hex_prefix_round_trips_and_refuses_bad_padding() -> None:
    for path in [(), (1,), (1, 2), (0, 15, 3)]:
        for leaf in (False, True):
            assert mpt.read_hex_prefix(mpt.hex_prefix(path, leaf)) == (path, leaf)
    with pytest.raises(VerificationError, match="padding"):
        mpt.read_hex_prefix(b"\x01")
    with pytest.raises(VerificationError, match="flag"):
        mpt.read_hex_prefix(b"\x40")
