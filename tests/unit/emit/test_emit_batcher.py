"""Batches close by count, bytes and linger, oldest first, and decode to the events put in."""

from __future__ import annotations

import uuid

import pytest

from provledger.emit.batcher import RECORD_OVERHEAD, Batcher
from provledger.emit.options import EmitterOptions
from provledger.events import Event, EventType, Job, Run, decode_record
from provledger.events.binary import event_body


def _event(run: Run, index: int) -> Event:
    return Event.new(
        EventType.RUNNING,
        job=Job("vision", "train"),
        run=run,
        producer="https://example.com/trainer",
        attributes={"step": str(index)},
    )


def test_a_batch_closes_at_max_batch_events_and_decodes_in_order() -> None:
    batcher = Batcher(EmitterOptions(max_batch_events=3, max_buffered_events=10))
    run = Run(str(uuid.uuid4()))
    events = [_event(run, i) for i in range(7)]
    closed = [batcher.add(run.run_id.encode(), event_body(e), 0.0) for e in events]
    full = [batch for batch in closed if batch is not None]
    assert [batch.count for batch in full] == [3, 3]
    assert len(batcher) == 1
    rest = batcher.drain()
    assert len(batcher) == 0
    decoded = [event for batch in [*full, *rest] for event in decode_record(batch.value())]
    assert decoded == events


def test_a_batch_closes_before_an_event_would_pass_max_batch_bytes() -> None:
    body = bytes(400)
    batcher = Batcher(EmitterOptions(max_batch_bytes=1024))
    assert batcher.add(b"k", body, 0.0) is None
    assert batcher.add(b"k", body, 0.0) is None
    closed = batcher.add(b"k", body, 0.0)
    assert closed is not None
    assert closed.count == 2
    assert closed.size == RECORD_OVERHEAD + 800 <= 1024
    assert len(batcher) == 1


def test_keys_batch_apart_and_lingering_batches_leave_oldest_first() -> None:
    batcher = Batcher(EmitterOptions(linger_s=1.0))
    batcher.add(b"a", b"1", 10.0)
    batcher.add(b"b", b"2", 10.5)
    batcher.add(b"a", b"3", 10.9)
    assert batcher.next_deadline() == 11.0
    assert list(batcher.due(10.99)) == []
    first = list(batcher.due(11.0))
    assert [(batch.key, batch.bodies) for batch in first] == [(b"a", [b"1", b"3"])]
    assert batcher.next_deadline() == 11.5
    assert [batch.key for batch in batcher.due(99.0)] == [b"b"]
    assert batcher.next_deadline() is None


@pytest.mark.parametrize(
    "changes",
    [
        {"max_batch_events": 0},
        {"max_batch_events": 10, "max_buffered_events": 5},
        {"max_batch_bytes": 100},
        {"max_batch_events": 10_001, "max_buffered_events": 20_000},
        {"linger_s": -1.0},
        {"delivery_timeout_s": 0.0},
    ],
)
def test_options_refuse_values_that_cannot_work(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        EmitterOptions(**changes)  # type: ignore[arg-type]
