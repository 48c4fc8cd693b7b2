"""The hand-written Avro writer gives exactly fastavro's bytes under both v1 layouts; v1 bytes are pinned."""

from __future__ import annotations

import hashlib
import io

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers.event_strategies import events, sample_event

from provledger.events.binary import zigzag_varint
from provledger.events.canonical import canonical_event_bytes
from provledger.events.codec import WRITTEN_VERSION
from provledger.events.model import Event
from provledger.events.schemas import registry


def _fastavro(schema: object, record: object) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, record)  # type: ignore[arg-type]
    return out.getvalue()


@given(events())
@settings(max_examples=150, deadline=None)
def test_event_body_is_fastavros_encoding_under_both_schemas(event: Event) -> None:
    version = registry().version(WRITTEN_VERSION)
    body = canonical_event_bytes(event)
    assert body == _fastavro(version.event, event.to_avro())
    assert body == _fastavro(version.canonical, event.to_avro())


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (-1, "01"), (1, "02"), (-64, "7f"), (64, "8001"), (2**63 - 1, "feffffffffffffffff01")],
)
def test_zigzag_varint_matches_the_avro_spec(value: int, encoded: str) -> None:
    assert zigzag_varint(value).hex() == encoded


@given(st.integers(-(2**63), 2**63 - 1))
@settings(max_examples=100, deadline=None)
def test_zigzag_varint_is_fastavros_long(value: int) -> None:
    assert zigzag_varint(value) == _fastavro("long", value)


#: The leaf hash of ``sample_event()``'s 378 canonical bytes, computed once with fastavro under the
#: v1 canonical schema: a change of the canonical encoding (of the writer or of the schema files
#: together) changes every leaf ever sealed, so it must fail here rather than pass both sides above.
SAMPLE_LEAF_HASH = "55e05dded7d2c0a07bcfa0f7db635af3f0b75f569cc612d273499cd4ace92cab"


def test_the_v1_canonical_bytes_of_a_fixed_event_are_pinned() -> None:
    body = canonical_event_bytes(sample_event())
    assert len(body) == 378
    assert body.startswith(b"H01938a6e-7c00-7abc-8def-0123456789ab")  # string: zig-zag length 36, then UTF-8
    assert hashlib.sha256(b"\x00" + body).hexdigest() == SAMPLE_LEAF_HASH  # RFC 9162 leaf hash
