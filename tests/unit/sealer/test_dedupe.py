"""Deduplication: what is sealed is the reference, then the batch's first occurrence."""

from __future__ import annotations

from provledger.events.rows import EventRow
from provledger.sealer.intake import Screened, SourceRecord, dedupe

EVENT = "01890000-0000-7000-8000-000000000001"


def _candidate(leaf: bytes, offset: int, event_id: str = EVENT) -> EventRow:
    return EventRow(event_id, b"bytes", leaf, 0, "COMPLETE", "run", None, "ns", "job", (), (), offset)


def _screened(*candidates: EventRow) -> list[Screened]:
    """The candidates as screened records, one per offset, each holding that offset's events."""
    by_offset: dict[int, list[EventRow]] = {}
    for candidate in candidates:
        by_offset.setdefault(candidate.source_offset, []).append(candidate)
    return [Screened(SourceRecord("t", 0, o, None, None, b"v"), events) for o, events in by_offset.items()]


def test_a_repeat_of_a_sealed_event_is_a_duplicate_even_after_a_conflicting_one() -> None:
    sealed = b"\x01" * 32
    result = dedupe(_screened(_candidate(b"\x02" * 32, 0), _candidate(sealed, 1)), {EVENT: sealed})
    assert result.accepted == []
    assert result.duplicates == 1
    assert [(r.reason, r.record.offset, r.event_id) for r in result.rejected] == [
        ("conflicting_duplicate", 0, str(EVENT))
    ]


def test_within_a_batch_the_first_occurrence_wins() -> None:
    first, other = _candidate(b"\x01" * 32, 0), _candidate(b"\x02" * 32, 2)
    fresh = _candidate(b"\x03" * 32, 1, "01890000-0000-7000-8000-000000000002")
    result = dedupe(_screened(first, fresh, _candidate(b"\x01" * 32, 1), other), {})
    assert result.accepted == [first, fresh]
    assert result.duplicates == 1
    assert [r.record.offset for r in result.rejected] == [2]
