"""Kafka record values: single-object encoding, and InvalidEvent for anything else."""

from __future__ import annotations

import contextlib

import pytest
from event_strategies import events, sample_event
from hypothesis import given, settings
from hypothesis import strategies as st

from provledger.errors import InvalidEvent
from provledger.events.codec import (
    HEADER_SIZE,
    MAGIC,
    MAX_RECORD_BYTES,
    batch_header,
    decode_record,
    encode_record,
)
from provledger.events.model import Event


def test_a_batch_round_trips_in_order() -> None:
    batch = [sample_event(), sample_event(event_id="01938a6e-7c00-7abc-8def-0123456789ac")]
    value = encode_record(batch)
    assert value[:2] == MAGIC
    assert decode_record(value) == batch


@given(st.lists(events(), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_any_valid_batch_round_trips(batch: list[Event]) -> None:
    assert decode_record(encode_record(batch)) == batch


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
        (batch_header() + bytes(MAX_RECORD_BYTES), "oversized"),
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
