"""No decode bombs: counts and lengths are checked from the bytes before any object is built."""

from __future__ import annotations

import tracemalloc

import pytest
from tests.helpers.event_strategies import sample_event

from provledger.errors import InvalidEvent
from provledger.events.binary import array_of, event_body, zigzag_varint
from provledger.events.codec import batch_header, decode_record
from provledger.events.limits import MAX_ATTRIBUTES, MAX_BATCH_EVENTS, MAX_OPENLINEAGE_BYTES, MAX_TIME_US
from provledger.events.model import Event

#: What decoding a hostile record may allocate at its peak: a few times the record, not 100x.
PEAK_BYTES = 8 << 20


def _string(text: str) -> bytes:
    return zigzag_varint(len(text.encode())) + text.encode()


def _with_attributes(raw: bytes) -> bytes:
    """The sample event with its attributes array replaced by ``raw`` (count, items, end)."""
    sample = sample_event()
    body = event_body(sample)
    encoded = array_of([_string(key) + _string(value) for key, value in sample.attributes])
    assert body.count(encoded) == 1
    return batch_header() + array_of([body.replace(encoded, raw)])


def _refused(value: bytes, max_bytes: int = 4 << 20) -> InvalidEvent:
    tracemalloc.start()
    try:
        with pytest.raises(InvalidEvent) as caught:
            decode_record(value, max_bytes=max_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"decoding a refused record allocated {peak} bytes at its peak"
    return caught.value


def test_a_megabyte_of_empty_attributes_is_refused_from_its_count() -> None:
    count = 500_000  # each {key: "", value: ""} is two bytes: fastavro alone built ~131 MiB of dicts
    error = _refused(_with_attributes(zigzag_varint(count) + b"\x00\x00" * count + b"\x00"))
    assert error.reason == "oversized"
    assert "attributes" in error.detail


def test_counts_are_summed_over_blocks() -> None:
    blocks = (zigzag_varint(1) + b"\x02a\x00") * (MAX_ATTRIBUTES + 1) + b"\x00"
    assert _refused(_with_attributes(blocks)).reason == "oversized"


def test_a_negative_block_count_with_its_byte_size_is_read_as_avro_says() -> None:
    # SPEC: a negative count is followed by the block's size in bytes; the items follow.
    items = b"\x04k1\x00" + b"\x04k2\x00"
    (event,) = decode_record(
        _with_attributes(zigzag_varint(-2) + zigzag_varint(len(items)) + items + b"\x00")
    )
    assert event.attributes == (("k1", ""), ("k2", ""))


def test_a_count_larger_than_the_record_is_refused_without_walking_it() -> None:
    assert _refused(_with_attributes(zigzag_varint(1 << 60) + b"\x00")).reason == "oversized"


def test_too_many_events_are_refused_from_the_batch_count() -> None:
    value = batch_header() + zigzag_varint(MAX_BATCH_EVENTS + 1) + b"\x00"
    assert _refused(value).reason == "oversized"


def test_a_length_beyond_the_body_is_malformed_not_read() -> None:
    assert _refused(_with_attributes(b"\x02" + zigzag_varint(1 << 40) + b"\x00")).reason == "oversized"
    assert _refused(_with_attributes(b"\x02" + zigzag_varint(4000) + b"k" * 10)).reason == "malformed_avro"


def test_a_bytes_value_over_its_limit_is_refused_before_it_is_copied() -> None:
    body = bytearray(event_body(sample_event(openlineage=b"{}")))
    assert body.endswith(b"\x02\x04{}")
    value = batch_header() + b"\x02" + bytes(body[:-3]) + zigzag_varint(MAX_OPENLINEAGE_BYTES + 1) + b"\x00"
    assert _refused(value).reason == "oversized"


def test_events_of_a_valid_record_are_decoded_one_at_a_time_and_all_kept() -> None:
    events = [sample_event(event_id=f"01938a6e-7c00-7abc-8def-{index:012x}") for index in range(50)]
    decoded = decode_record(batch_header() + array_of([event_body(e) for e in events]))
    assert decoded == events
    assert all(isinstance(event, Event) for event in decoded)


def test_a_time_no_datetime_can_hold_is_refused_before_a_generic_decoder_overflows() -> None:
    sample = sample_event()
    body = event_body(sample)
    old = zigzag_varint(sample.event_time_us)
    value = batch_header() + array_of([body.replace(old, zigzag_varint(MAX_TIME_US + 1))])
    assert _refused(value).reason == "bad_event_time"
