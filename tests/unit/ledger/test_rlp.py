"""RLP: the published invalid encodings are refused, and encode/decode agree with the reference package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp as reference  # type: ignore[import-untyped]  # the Ethereum Foundation's package: a second, independent implementation
from hypothesis import given
from hypothesis import strategies as st

from provledger.errors import VerificationError
from provledger.ledger import rlp

VECTORS = Path(__file__).parent / "evm_vectors" / "invalidRLPTest.json"
INVALID = json.loads(VECTORS.read_text())

items = st.recursive(st.binary(max_size=80), lambda children: st.lists(children, max_size=6), max_leaves=30)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_published_invalid_encodings_are_refused(name: str) -> None:
    encoded = bytes.fromhex(INVALID[name]["out"].removeprefix("0x"))
    with pytest.raises(VerificationError):
        rlp.decode(encoded)


@given(items)
def test_encoding_is_the_reference_packages(item: Any) -> None:
    assert rlp.encode(item) == reference.encode(item)
    assert rlp.decode(rlp.encode(item)) == item


@given(st.binary(max_size=64))
def test_decode_accepts_exactly_what_the_reference_accepts_strictly(data: bytes) -> None:
    try:
        expected = reference.decode(data, strict=True)
    except reference.exceptions.DecodingError:
        with pytest.raises(VerificationError):
            rlp.decode(data)
        return
    # Our decoder refuses a non-canonical spelling the reference reads; then re-encoding differs.
    try:
        decoded = rlp.decode(data)
    except VerificationError:
        assert reference.encode(expected) != data
        return
    assert decoded == _lists(expected)


def _lists(item: Any) -> Any:
    return item if isinstance(item, bytes) else [_lists(child) for child in item]


@given(items, st.binary(min_size=1, max_size=3))
def test_bytes_after_the_item_are_refused(item: Any, tail: bytes) -> None:
    with pytest.raises(VerificationError, match="after its item"):
        rlp.decode(rlp.encode(item) + tail)


def test_integers_have_one_spelling() -> None:
    assert rlp.encode_int(0) == b""
    assert rlp.decode_int(rlp.encode_int(1024), "n") == 1024
    with pytest.raises(VerificationError, match="leading zero"):
        rlp.decode_int(b"\x00\x01", "n")


def test_deep_nesting_is_refused_not_a_stack_overflow() -> None:
    nested = b"\xc0"
    for _ in range(40):
        nested = (
            bytes([0xC0 + len(nested)]) + nested
            if len(nested) < 56
            else b"\xf8" + bytes([len(nested)]) + nested
        )
    with pytest.raises(VerificationError, match="nest deeper"):
        rlp.decode(nested)
