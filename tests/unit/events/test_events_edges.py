"""The three doors agree: the model, the fast reader (pure and compiled) and the OpenLineage mapping.

Hypothesis puts hostile values (NUL, lone surrogates, texts around their byte limits, times
around years 1 and 9999, any 64-bit time) into one field of an otherwise valid event and checks
that every door gives the same verdict: accepted with the same canonical bytes, or refused with
a reason. They share :mod:`provledger.events.limits`; this is what keeps them from drifting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.helpers.event_strategies import sample_event

from provledger.errors import InvalidEvent
from provledger.events import compiled, reader
from provledger.events.binary import array_of, event_body, zigzag_varint
from provledger.events.canonical import canonical_event_bytes
from provledger.events.codec import batch_header, decode_record
from provledger.events.limits import (
    MAX_OPENLINEAGE_NODES,
    MAX_TEXT_BYTES,
    MAX_TIME_US,
    MIN_TIME_US,
    time_in_range,
)
from provledger.events.model import ArtifactRef, Event, Job, time_from_micros
from provledger.events.openlineage import RUN_EVENT_SCHEMA_URL, from_openlineage
from provledger.events.rows import EventRow

MARKER = "\u2603marker\u2603"  # encoded once in the sample event, then swapped for the hostile bytes
DIGEST = "sha256:" + "ab" * 32
PRODUCER = "https://example.com/"

READERS = [pytest.param(reader.read_batch, id="pure")]
if compiled.COMPILED:
    READERS.append(pytest.param(compiled.read_batch, id="compiled"))

T = TypeVar("T")
ReadBatch = Callable[[bytes, int], list[EventRow] | None]

# Where a text can go, as a function from the text to the event holding it there.
PLACES: dict[str, Callable[[str], Event]] = {
    "job namespace": lambda text: sample_event(job=Job(text, "train")),
    "job name": lambda text: sample_event(job=Job("vision", text)),
    "artifact namespace": lambda text: sample_event(outputs=(ArtifactRef(text, "m", DIGEST, "model"),)),
    "artifact name": lambda text: sample_event(outputs=(ArtifactRef("models", text, DIGEST, "model"),)),
    "artifact version": lambda text: sample_event(
        outputs=(ArtifactRef("models", "m", DIGEST, "model", text),)
    ),
    "producer": lambda text: sample_event(producer=PRODUCER + text),
    "attribute key": lambda text: sample_event(attributes=((text, "v"),)),
    "attribute value": lambda text: sample_event(attributes=(("k", text),)),
}

hostile_texts = st.one_of(
    st.text(min_size=1, max_size=20),  # NUL and lone surrogates included
    st.text(min_size=1, max_size=8).map(lambda text: text + "\x00"),
    st.sampled_from(["\ud800", "a\udfffb", "\x00"]),
    # Around the byte limit, in one-, two- and four-byte characters.
    st.builds(lambda char, n: char * n, st.sampled_from("aé\U0001f600"), st.integers(250, 1030)),
)


def _model(build: Callable[[], T]) -> T | None:
    try:
        return build()
    except InvalidEvent:
        return None


def _record_with(text: str, place: str) -> bytes:
    """The record of the sample event with ``text`` at ``place``, bypassing the model's checks."""
    body = event_body(PLACES[place](MARKER))
    prefix = PRODUCER if place == "producer" else ""
    marker = (prefix + MARKER).encode()
    hostile = (prefix + text).encode("utf-8", "surrogatepass")  # a lone surrogate: invalid UTF-8
    swapped = body.replace(zigzag_varint(len(marker)) + marker, zigzag_varint(len(hostile)) + hostile)
    assert swapped != body
    return batch_header() + array_of([swapped])


def _decoded(record: bytes) -> bytes | None:
    try:
        (event,) = decode_record(record)
    except InvalidEvent:
        return None
    return canonical_event_bytes(event)


def _fast(read_batch: ReadBatch, record: bytes) -> bytes | None:
    rows = read_batch(record, 0)
    return None if rows is None else rows[0].canonical


@pytest.mark.parametrize("read_batch", READERS)
@pytest.mark.parametrize("place", sorted(PLACES))
@given(text=hostile_texts)
@example(text="\x00")
@example(text="\ud800")
@example(text="é" * 512)
@example(text="é" * 513)
@settings(max_examples=40, deadline=None)
def test_every_door_gives_one_verdict_on_a_text(read_batch: ReadBatch, place: str, text: str) -> None:
    event = _model(lambda: PLACES[place](text))
    expected = None if event is None else canonical_event_bytes(event)
    record = _record_with(text, place)
    assert _decoded(record) == expected
    assert _fast(read_batch, record) == expected


def _record_at(micros: int) -> bytes:
    sample = sample_event()
    body = event_body(sample)
    old = zigzag_varint(sample.event_time_us)
    assert body.count(old) == 1
    return batch_header() + array_of([body.replace(old, zigzag_varint(micros))])


@pytest.mark.parametrize("read_batch", READERS)
@given(
    micros=st.one_of(
        st.integers(-(1 << 63), (1 << 63) - 1),
        st.integers(MIN_TIME_US - 2, MIN_TIME_US + 2),
        st.integers(MAX_TIME_US - 2, MAX_TIME_US + 2),
    )
)
@example(micros=MAX_TIME_US + 1)
@example(micros=MIN_TIME_US - 1)
@settings(max_examples=60, deadline=None)
def test_every_door_gives_one_verdict_on_a_time(read_batch: ReadBatch, micros: int) -> None:
    record = _record_at(micros)
    if time_in_range(micros):
        expected = canonical_event_bytes(sample_event(event_time=time_from_micros(micros)))
        assert _decoded(record) == expected
        assert _fast(read_batch, record) == expected
    else:
        assert _decoded(record) is None
        assert _fast(read_batch, record) is None


def _run_event(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2024-11-24T16:00:00.123456+00:00",
        "producer": "https://github.com/example/trainer",
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": {"runId": "01938a6e-7c00-7000-8000-000000000001"},
        "job": {"namespace": "vision", "name": "train"},
        "inputs": [],
        "outputs": [],
    }
    document.update(changes)
    return document


def _mapped(document: dict[str, Any]) -> Event | None:
    try:
        return from_openlineage(document)
    except InvalidEvent:
        return None


@given(text=hostile_texts)
@example(text="\x00")
@example(text="\ud800")
@settings(max_examples=60, deadline=None)
def test_openlineage_gives_the_models_verdict_on_names(text: str) -> None:
    assert (_mapped(_run_event(job={"namespace": text, "name": "t"})) is None) == (
        _model(lambda: Job(text, "t")) is None
    )
    dataset = {"namespace": "s3://bucket", "name": text}
    assert (_mapped(_run_event(inputs=[dataset])) is None) == (
        _model(lambda: ArtifactRef("s3://bucket", text, DIGEST, "dataset")) is None
    )


@pytest.mark.parametrize(
    ("event_time", "accepted"),
    [
        ("9999-12-31T23:59:59-23:59", False),  # 10000-01-01 in UTC: the poison record
        ("9999-12-31T23:59:59.999998+00:00", True),
        ("9999-12-31T23:59:59.999999+00:00", False),  # what asyncpg reads back as infinity
        ("9999-12-31T23:59:59+01:00", True),
        ("0001-01-01T00:00:00+01:00", False),  # the year 0 in UTC
        ("1970-01-01T00:00:00+00:00", True),
    ],
)
def test_openlineage_event_times_outside_years_1_to_9999_in_utc_are_refused(
    event_time: str, accepted: bool
) -> None:
    event = _mapped(_run_event(eventTime=event_time))
    assert (event is not None) == accepted
    if event is not None:
        assert event.event_time == datetime.fromisoformat(event_time)


def test_a_lone_surrogate_anywhere_in_a_run_event_is_bad_text() -> None:
    facets = {"custom": {"\ud800key": "value"}}
    with pytest.raises(InvalidEvent) as caught:
        from_openlineage(_run_event(run={"runId": "01938a6e-7c00-7000-8000-000000000001", "facets": facets}))
    assert caught.value.reason == "bad_text"


def test_a_run_event_too_large_is_refused_before_it_is_canonicalised() -> None:
    bomb: list[dict[str, str]] = [{}] * 600_000  # half a million objects: 1.2 MB as JSON
    with pytest.raises(InvalidEvent) as caught:
        from_openlineage(
            _run_event(run={"runId": "01938a6e-7c00-7000-8000-000000000001", "facets": {"x": bomb}})
        )
    assert caught.value.reason == "oversized"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"eventTime": "9999-12-31T23:59:59-23:59"}, "bad_event_time"),
        ({"job": {"namespace": "vision\x00", "name": "train"}}, "bad_text"),
    ],
)
def test_time_and_job_are_refused_before_the_run_event_is_canonicalised(
    changes: dict[str, Any], reason: str
) -> None:
    """What hostile clients send most is refused before the costly part (RFC 8785, digests).

    The facet is also too large, which canonicalising would find: the cheap fault is the one named.
    """
    facets: dict[str, list[dict[str, str]]] = {"x": [{}] * 600_000}
    document = _run_event(run={"runId": "01938a6e-7c00-7000-8000-000000000001", "facets": facets}, **changes)
    with pytest.raises(InvalidEvent) as caught:
        from_openlineage(document)
    assert caught.value.reason == reason


def test_a_structure_bomb_with_a_bad_time_is_refused_as_text_and_as_a_document_for_its_first_fault() -> None:
    """Text is counted for nodes before it is parsed; a parsed document has its time checked first."""
    facets: dict[str, list[dict[str, str]]] = {"x": [{}] * MAX_OPENLINEAGE_NODES}
    document = _run_event(
        run={"runId": "01938a6e-7c00-7000-8000-000000000001", "facets": facets},
        eventTime="1960-01-01T00:00:00Z",
    )
    reasons = []
    for sent in (json.dumps(document).encode(), document):
        with pytest.raises(InvalidEvent) as caught:
            from_openlineage(sent)
        reasons.append(caught.value.reason)
    assert reasons == ["oversized", "bad_event_time"]


def test_a_structure_bomb_is_refused_from_its_bytes_and_as_a_parsed_document_alike() -> None:
    """The sealer reads a RunEvent's bytes, the API a parsed document: one rule for both."""
    facets: dict[str, list[dict[str, str]]] = {"x": [{}] * MAX_OPENLINEAGE_NODES}
    document = _run_event(run={"runId": "01938a6e-7c00-7000-8000-000000000001", "facets": facets})
    for sent in (document, json.dumps(document).encode()):
        with pytest.raises(InvalidEvent) as caught:
            from_openlineage(sent)
        assert caught.value.reason == "oversized"
    facets["x"] = [{}] * (MAX_OPENLINEAGE_NODES // 2 - 100)
    assert _mapped(document) is not None
    assert from_openlineage(json.dumps(document).encode()) == _mapped(document)


def test_texts_are_limited_in_utf8_bytes_not_characters() -> None:
    assert _model(lambda: Job("n", "é" * (MAX_TEXT_BYTES // 2))) is not None
    assert _model(lambda: Job("n", "é" * (MAX_TEXT_BYTES // 2) + "a")) is None
    assert datetime(9999, 12, 31, tzinfo=timezone(timedelta(hours=-1))) - datetime(
        1, 1, 1, tzinfo=UTC
    ) > timedelta(0)
