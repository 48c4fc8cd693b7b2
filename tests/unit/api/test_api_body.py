"""Bounded bodies: one gzip member inflated within the cap, the structure count, JSON parsed per element."""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provledger.api.body import (
    INFLATE_STEP,
    MAX_GZIP_RATIO,
    MAX_JSON_NODES,
    RATIO_FROM_BYTES,
    Gunzip,
    body_text,
    check_structure,
    json_items,
    json_value,
)
from provledger.api.problems import ProblemError

LIMIT = 64 << 10


def _refused(status: int, slug: str) -> Any:
    return pytest.raises(ProblemError, check=lambda exc: (exc.status, exc.slug) == (status, slug))


def _inflate(chunks: list[bytes], limit: int = LIMIT) -> bytes:
    gunzip = Gunzip(limit)
    for chunk in chunks:
        gunzip.feed(chunk)
    return bytes(gunzip.finish())


@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6))
def test_one_member_inflates_whole_however_it_is_chunked(data: bytes, cuts: list[int]) -> None:
    member = gzip.compress(data)
    bounds = sorted({0, len(member), *(cut % (len(member) + 1) for cut in cuts)})
    assert _inflate([member[a:b] for a, b in itertools.pairwise(bounds)]) == data


@pytest.mark.parametrize(
    "tail",
    [b"garbage", b"\x00", gzip.compress(b"{}"), gzip.compress(b"")],
    ids=["garbage", "one NUL", "second member", "empty second member"],
)
@pytest.mark.parametrize("same_chunk", [True, False])
def test_anything_after_the_member_is_400(tail: bytes, same_chunk: bool) -> None:
    member = gzip.compress(b'{"a": 1}')
    chunks = [member + tail] if same_chunk else [member, tail]
    with _refused(400, "bad-gzip") as refused:
        _inflate(chunks)
    assert f"{len(tail)} bytes follow the end of the gzip member" in refused.value.detail


def test_a_truncated_or_foreign_body_is_400() -> None:
    with _refused(400, "bad-gzip"):
        _inflate([gzip.compress(b'{"a": 1}')[:-4]])
    with _refused(400, "bad-gzip"):
        _inflate([b'{"a": 1}'])


def test_a_bomb_is_refused_having_inflated_one_byte_past_the_cap() -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(deflate.compress(b"\x00" * (1 << 20)) for _ in range(64)) + deflate.flush()
    assert len(bomb) < 128 << 10  # 64 MiB inflated
    gunzip = Gunzip(LIMIT)
    with _refused(413, "too-large"):
        for start in range(0, len(bomb), 16 << 10):
            gunzip.feed(bomb[start : start + (16 << 10)])
    assert len(gunzip.plain) == LIMIT + 1


def test_a_body_of_exactly_the_cap_is_accepted() -> None:
    assert len(_inflate([gzip.compress(b"x" * LIMIT)])) == LIMIT
    with _refused(413, "too-large"):
        _inflate([gzip.compress(b"x" * (LIMIT + 1))])


def test_structure_is_counted_before_parsing() -> None:
    at_bound = b"[" + b"0," * (MAX_JSON_NODES - 2) + b"0]"  # the array and MAX_JSON_NODES - 1 zeros
    check_structure(at_bound)
    with _refused(413, "too-complex"):
        check_structure(b"[0," + at_bound[1:])
    with _refused(413, "too-complex") as refused:
        check_structure(b"[" + b"{}," * MAX_JSON_NODES + b"{}]")
    assert "send fewer RunEvents per request" in refused.value.detail


def test_body_text_decodes_then_empties_the_body() -> None:
    body = bytearray('["é"]'.encode())
    assert body_text(body) == '["é"]'
    assert body == b""
    with _refused(400, "malformed-json"):
        body_text(bytearray(b'["\xff"]'))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(items=st.lists(_JSON, max_size=5), indent=st.sampled_from([None, 0, 2]))
def test_an_array_parses_per_element_as_json_loads_would(items: list[Any], indent: int | None) -> None:
    text = json.dumps(items, indent=indent)
    parsed = json_items(f" \n{text}\t ")
    assert parsed is not None
    assert list(parsed) == json.loads(text)


def test_a_value_that_is_not_an_array_is_left_to_json_value() -> None:
    assert json_items(' {"events": []}') is None
    assert json_value(' {"events": []} ') == {"events": []}


@pytest.mark.parametrize(
    "text",
    ["[", "[1,]", "[1 2]", "[1]x", "[1,,2]", "[NaN]", "[1e999, -Infinity]", "[" * 100_000 + "]" * 100_000],
)
def test_malformed_arrays_are_400_when_reached(text: str) -> None:
    items = json_items(text)
    assert items is not None
    with _refused(400, "malformed-json"):
        list(items)


@pytest.mark.parametrize("text", ["{", "NaN", '{"a": Infinity}', "[1] [2]", "{" * 100_000])
def test_malformed_values_are_400(text: str) -> None:
    with _refused(400, "malformed-json"):
        json_value(text)


def test_a_body_inflating_past_the_ratio_is_refused_soon_after_the_first_mebibyte() -> None:
    bomb = gzip.compress(b" " * (8 << 20))  # ~1000x: 8 MiB of spaces in ~8 KB
    gunzip = Gunzip(8 << 20)
    with _refused(413, "too-compressed"):
        for start in range(0, len(bomb), 1024):
            gunzip.feed(bomb[start : start + 1024])
    assert len(gunzip.plain) < RATIO_FROM_BYTES + MAX_GZIP_RATIO * 1024 + (64 << 10)


def test_a_bomb_arriving_in_one_chunk_is_refused_as_soon() -> None:
    bomb = gzip.compress(bytes(16 << 20), 9)  # ~1000x, 16 KB: what one read of the socket holds
    gunzip = Gunzip(8 << 20)
    with _refused(413, "too-compressed"):
        gunzip.feed(bomb)
    assert len(gunzip.plain) <= RATIO_FROM_BYTES + INFLATE_STEP


def test_json_compressing_as_json_does_is_not_refused_for_its_ratio() -> None:
    events = [
        {"run": {"runId": f"01938a6e-7c00-7000-8000-{i:012x}"}, "job": {"name": "etl"}} for i in range(40_000)
    ]
    body = json.dumps(events).encode()
    assert len(body) > 2 * RATIO_FROM_BYTES
    assert _inflate([gzip.compress(body)], limit=8 << 20) == body
