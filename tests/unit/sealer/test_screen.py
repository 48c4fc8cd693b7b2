"""Screening records: whatever goes wrong in the fast reader, the general path still decides."""

from __future__ import annotations

import pytest
from event_strategies import sample_event

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
    result = screen([record], openlineage_topic="provledger.openlineage", max_bytes=1 << 20)
    assert result.rejected == []
    assert [(c.canonical, c.source_offset) for c in result.candidates] == [(canonical_event_bytes(event), 7)]
