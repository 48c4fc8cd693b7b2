"""The emitter's cached encoder writes exactly the reference event body, hits and misses alike."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from tests.helpers.event_strategies import events, sample_event

from provledger.emit.encoding import BodyEncoder, _time
from provledger.events import Event
from provledger.events.binary import event_body, zigzag_varint
from provledger.events.ids import new_event_id

ENCODER = BodyEncoder(capacity=64)  # small, so hypothesis also exercises the cache starting afresh


@given(events())
def test_every_event_encodes_as_the_reference(event: Event) -> None:
    assert ENCODER.encode(event) == event_body(event)
    assert ENCODER.encode(event) == event_body(event)  # the second time from the cache


@given(events(), st.lists(st.tuples(st.integers(-(10**15), 10**15), events()), max_size=5))
def test_events_sharing_a_run_reuse_the_stretch_and_still_match(
    first: Event, later: list[tuple[int, Event]]
) -> None:
    encoder = BodyEncoder()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert encoder.encode(first) == event_body(first)
    for shift, other in later:
        # Same run, job, producer and artifact objects; everything else from another event.
        sibling = dataclasses.replace(
            other,
            run=first.run,
            job=first.job,
            producer=first.producer,
            inputs=first.inputs,
            outputs=first.outputs,
            event_time=max(first.event_time + timedelta(microseconds=shift), epoch),
        )
        assert encoder.encode(sibling) == event_body(sibling)


def test_a_run_of_fresh_events_matches_across_second_boundaries() -> None:
    encoder = BodyEncoder()
    base = sample_event()
    for step in range(3000):
        event = dataclasses.replace(
            base,
            event_id=new_event_id(),
            event_time=base.event_time + timedelta(microseconds=step * 997),
            attributes=(("step", str(step)),),
        )
        assert encoder.encode(event) == event_body(event)


def test_time_varints_equal_the_generic_ones() -> None:
    rng = random.Random(4)
    highs: dict[int, bytes] = {}
    edges = [0, 1, -1, (1 << 20) - 1, 1 << 20, (1 << 21) - 1, 1 << 21, (1 << 62) - 1, -(1 << 62)]
    for micros in edges + [rng.randrange(-(1 << 63), 1 << 63) for _ in range(20_000)]:
        assert _time(micros, highs) == zigzag_varint(micros)
