"""Kafka record values: single-object encoding, and InvalidEvent for anything else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers.event_strategies import events, sample_event

from provledger.errors import InvalidEvent
from provledger.events import compiled, reader
from provledger.events.codec import (
    HEADER_SIZE,
    MAGIC,
    WRITTEN_VERSION,
    batch_header,
    decode_record,
    encode_record,
)
from provledger.events.limits import DEFAULT_MAX_RECORD_BYTES
from provledger.events.model import Event
from provledger.events.rows import EventRow
from provledger.events.schemas import EVENT_BATCH, PRE_SPEC_BATCH_FINGERPRINTS, schemas_root
from provledger.sealer.intake import accept

#: The fast reader, pure and (where built) compiled, as tests/unit/events/test_events_reader.py runs it.
FAST_READERS = [
    pytest.param(reader.read_batch, id="pure"),
    pytest.param(
        compiled.read_batch,
        id="mypyc",
        marks=pytest.mark.skipif(not compiled.COMPILED, reason="python -m provledger.events.compiled"),
    ),
]
OFFSET = 41


def test_a_batch_round_trips_in_order() -> None:
    batch = [sample_event(), sample_event(event_id="01938a6e-7c00-7abc-8def-0123456789ac")]
    value = encode_record(batch)
    assert value[:2] == b"\xc3\x01"  # Avro single-object encoding: the spec's marker bytes
    assert decode_record(value) == batch


@given(st.lists(events(), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_any_valid_batch_round_trips(batch: list[Event]) -> None:
    assert decode_record(encode_record(batch)) == batch


def test_the_header_names_the_writer_schema_as_any_avro_library_does() -> None:
    # fastavro's standard loading of the files (named types from sibling <fullname>.avsc files),
    # not the project's code: what a consumer outside provledger computes to find the schema.
    path = Path(str(schemas_root())) / f"v{WRITTEN_VERSION}" / f"{EVENT_BATCH}.avsc"
    standard = fingerprint(to_parsing_canonical_form(load_schema(str(path))), "CRC-64-AVRO")
    assert batch_header() == b"\xc3\x01" + bytes.fromhex(standard)
    assert encode_record([sample_event()])[:HEADER_SIZE] == b"\xc3\x01" + bytes.fromhex(standard)


def _pre_spec(value: bytes) -> bytes:
    """``value`` as releases before the spec-exact fingerprint wrote it."""
    (old,) = PRE_SPEC_BATCH_FINGERPRINTS
    return MAGIC + old + value[HEADER_SIZE:]


@given(st.lists(events(), min_size=1, max_size=3))
@settings(max_examples=40, deadline=None)
def test_records_with_the_pre_spec_fingerprint_still_decode(batch: list[Event]) -> None:
    assert decode_record(_pre_spec(encode_record(batch))) == batch


@pytest.mark.parametrize("read_batch", FAST_READERS)
@given(st.lists(events(), min_size=1, max_size=3))
@settings(max_examples=40, deadline=None)
def test_the_fast_reader_reads_the_pre_spec_fingerprint_too(
    read_batch: Callable[[bytes, int], list[EventRow] | None], batch: list[Event]
) -> None:
    value = encode_record(batch)
    rows = [accept(event, OFFSET) for event in batch]
    assert read_batch(value, OFFSET) == rows
    assert read_batch(_pre_spec(value), OFFSET) == rows


@pytest.mark.parametrize("read_batch", FAST_READERS)
def test_the_fast_reader_leaves_an_unknown_fingerprint_to_the_general_path(
    read_batch: Callable[[bytes, int], list[EventRow] | None],
) -> None:
    value = MAGIC + bytes(8) + encode_record([sample_event()])[HEADER_SIZE:]
    assert read_batch(value, OFFSET) is None
    with pytest.raises(InvalidEvent) as caught:
        decode_record(value)
    assert caught.value.reason == "unknown_fingerprint"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "not_single_object"),
        (b"\xc3\x01\x00", "not_single_object"),
        (b"\xc3\x02" + bytes(8) + b"\x02", "not_single_object"),
        (MAGIC + bytes(8) + b"\x00", "unknown_fingerprint"),
        (batch_header() + b"\x00", "empty_batch"),
        (batch_header() + b"\x02\xff", "malformed_avro"),
        (encode_record([sample_event()]) + b"\x00", "malformed_avro"),
        (encode_record([sample_event()])[:-5], "malformed_avro"),
        (batch_header() + bytes(DEFAULT_MAX_RECORD_BYTES), "oversized"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(value: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_record(value)
    assert caught.value.reason == reason


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_random_bytes_never_crash_the_reader(value: bytes) -> None:
    with pytest.raises(InvalidEvent):
        decode_record(value)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_random_bodies_behind_a_valid_header_never_crash_the_reader(body: bytes) -> None:
    with contextlib.suppress(InvalidEvent):
        decode_record(batch_header() + body)


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_corrupted_records_decode_to_valid_events_or_raise_invalid_event(data: st.DataObject) -> None:
    value = bytearray(encode_record([sample_event(payload_digest="sha256:" + "cd" * 32)]))
    for _ in range(data.draw(st.integers(1, 4))):
        value[data.draw(st.integers(HEADER_SIZE, len(value) - 1))] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_record(bytes(value))
    except InvalidEvent:
        return
    assert all(isinstance(event, Event) for event in decoded)
