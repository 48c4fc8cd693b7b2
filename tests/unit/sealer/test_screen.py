"""Screening records: whatever goes wrong in the fast reader, the general path still decides."""

from __future__ import annotations

import pytest
from tests.helpers.event_strategies import sample_event

from provledger.events.canonical import canonical_event_bytes
from provledger.events.codec import encode_record
from provledger.sealer import intake
from provledger.sealer.intake import SourceRecord, screen


def test_a_failing_fast_reader_leaves_the_record_to_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(value: bytes) -> None:
        raise TypeError("bytes object expected")  # what the compiled reader says to a bytearray

    monkeypatch.setattr(intake, "read_batch", broken)
    event = sample_event()
    record = SourceRecord("provledger.events", 0, 7, None, None, encode_record([event]))
    result = screen(record, openlineage_topic="provledger.openlineage", max_bytes=1 << 20)
    assert result.rejected is None
    assert [(c.canonical, c.source_offset) for c in result.events] == [(canonical_event_bytes(event), 7)]


def test_an_event_that_cannot_be_made_canonical_dead_letters_its_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_fast_path(value: bytes, offset: int) -> None:
        return None

    def broken(event: object) -> bytes:
        raise OverflowError("a value nobody anticipated")

    monkeypatch.setattr(intake, "read_batch", no_fast_path)
    monkeypatch.setattr(intake, "canonical_event_bytes", broken)
    good = SourceRecord("provledger.events", 0, 8, None, None, encode_record([sample_event()]))
    result = screen(good, openlineage_topic="provledger.openlineage", max_bytes=1 << 20)
    assert result.events == []
    assert result.rejected is not None
    assert (result.rejected.reason, result.rejected.record.offset) == ("decoder_error", 8)
    assert "OverflowError" in result.rejected.detail
