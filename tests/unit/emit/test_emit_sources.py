"""JSON and JSON-lines sources: each line an event or a located reason naming its assumed format."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from provledger.commands.emit import next_step
from provledger.emit.artifacts import bytes_digest
from provledger.emit.sources import (
    BadInput,
    Basis,
    Reading,
    SourceFormat,
    detect,
    events_of,
    split_source,
)
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.events.native_json import event_to_json
from provledger.events.openlineage import to_openlineage


def _event(step: int) -> Event:
    return Event.new(
        EventType.RUNNING,
        job=Job("tests", "cli"),
        run=Run(str(uuid.uuid4())),
        producer="https://example.com/cli",
        outputs=[ArtifactRef("tests", f"ckpt-{step}", bytes_digest(bytes([step])), "checkpoint")],
    )


def test_json_lines_report_bad_lines_by_number_and_keep_the_good_ones() -> None:
    good = [_event(i) for i in range(3)]
    broken_digest = event_to_json(_event(9))
    broken_digest["outputs"][0]["digest"] = "md5:abc"
    lines = [
        json.dumps(event_to_json(good[0])),
        "{not json",
        "",
        json.dumps(event_to_json(good[1])),
        json.dumps(broken_digest),
        "[1, 2]",
        json.dumps(event_to_json(good[2])),
    ]
    items = list(events_of(split_source("events.jsonl", "\n".join(lines) + "\n"), "native"))
    assert [item for item in items if isinstance(item, Event)] == good
    bad = [item for item in items if isinstance(item, BadInput)]
    assert [(b.where, b.reason) for b in bad] == [
        ("line 2", "malformed_json"),
        ("line 5", "bad_digest"),
        ("line 6", "bad_type"),
    ]
    assert str(bad[0]).startswith("events.jsonl: line 2: malformed_json: ")


def test_a_json_array_or_object_is_read_whole() -> None:
    events = [_event(i) for i in range(2)]
    array = json.dumps([event_to_json(e) for e in events], indent=2)
    assert list(events_of(split_source("a.json", array), "native")) == events
    pretty = json.dumps(event_to_json(events[0]), indent=2)  # one object over many lines
    assert list(events_of(split_source("o.json", pretty), "native")) == [events[0]]
    items = list(events_of(split_source("mixed.json", json.dumps([event_to_json(events[0]), 7])), "native"))
    assert items[0] == events[0]
    assert isinstance(items[1], BadInput)
    assert items[1].where == "item 2"


def test_openlineage_run_events_map_to_events() -> None:
    event = _event(1)
    run_event = to_openlineage(event)
    (parsed,) = events_of(split_source("ol.jsonl", json.dumps(run_event)), "openlineage")
    assert isinstance(parsed, Event)
    assert (parsed.run, parsed.job, parsed.outputs) == (event.run, event.job, event.outputs)
    missing = dict(run_event)
    del missing["eventTime"]
    (bad,) = events_of(split_source("ol.jsonl", json.dumps(missing)), "openlineage")
    assert isinstance(bad, BadInput)
    assert bad.reason == "missing_field"


def _lines(*documents: object) -> str:
    return "\n".join(json.dumps(document) for document in documents) + "\n"


def _bad(items: list[Event | BadInput]) -> list[BadInput]:
    return [item for item in items if isinstance(item, BadInput)]


def test_json_lines_are_detected_line_by_line_so_one_file_may_mix_formats() -> None:
    events = [_event(i) for i in range(4)]
    text = _lines(
        event_to_json(events[0]),
        to_openlineage(events[1]),
        to_openlineage(events[2]),
        event_to_json(events[3]),
    )
    read = list(events_of(split_source("mixed.jsonl", text)))
    assert [(e.event_id, e.run, e.outputs) for e in read if isinstance(e, Event)] == [
        (e.event_id, e.run, e.outputs) for e in events
    ]
    assert [isinstance(e, Event) and e.openlineage is not None for e in read] == [False, True, True, False]


@pytest.mark.parametrize(
    ("change", "source_format", "basis", "why"),
    [
        (to_openlineage, "openlineage", "keys", "it has schemaURL, eventTime, eventType, run.runId"),
        (event_to_json, "native", "keys", "it has event_id, event_time, event_type, run.run_id"),
        (
            lambda e: to_openlineage(e) | {"event_id": e.event_id},
            "openlineage",
            "keys",
            "it has schemaURL, eventTime, eventType, run.runId, against event_id",
        ),
        (
            lambda e: {"event_time": "2024-01-01T00:00:00Z", "eventTime": "2024-01-01T00:00:00Z"},
            "native",  # a tie is read as native
            "keys",
            "it has event_time, against eventTime",
        ),
        (
            lambda e: {"job": {"namespace": "tests", "name": "cli"}, "run": {"id": "x"}},
            "native",
            "default",
            "the default, as it has none of schemaURL, eventTime, eventType, run.runId",
        ),
    ],
)
def test_the_format_is_told_by_the_keys_only_one_format_has(
    change: Callable[[Event], dict[str, Any]], source_format: SourceFormat, basis: Basis, why: str
) -> None:
    assert detect(change(_event(1))) == Reading(source_format, basis, why)


def test_a_failed_line_names_the_format_it_was_read_in_and_why() -> None:
    late = to_openlineage(_event(2)) | {"eventTime": "yesterday"}
    unsigned = event_to_json(_event(3)) | {"producer": "no uri"}
    lines = [event_to_json(_event(1)), late, unsigned, {"job": {"namespace": "t", "name": "j"}}]
    bad = _bad(list(events_of(split_source("mixed.jsonl", _lines(*lines) + "{oops\n"))))
    assert str(bad[0]) == (
        "mixed.jsonl: line 2: read as an OpenLineage RunEvent (it has schemaURL, eventTime, eventType, "
        "run.runId): bad_event_time: eventTime 'yesterday' is not ISO 8601"
    )
    assert [(b.where, b.reason, str(b.reading)) for b in bad[1:3]] == [
        (
            "line 3",
            "bad_producer",
            "read as a native event (it has event_id, event_time, event_type, run.run_id)",
        ),
        (
            "line 4",
            "bad_event_time",
            "read as a native event (the default, as it has none of schemaURL, eventTime, eventType, "
            "run.runId)",
        ),
    ]
    assert str(bad[3]).startswith("mixed.jsonl: line 5: malformed_json: ")  # read in neither format
    assert bad[3].reading is None


def test_a_json_document_is_read_in_the_format_most_of_its_events_show() -> None:
    events = [_event(i) for i in range(3)]
    broken = {"job": {"namespace": "tests", "name": "cli"}}  # shows no format of its own
    items = [to_openlineage(events[0]), broken, to_openlineage(events[1]), event_to_json(events[2])]
    read = list(events_of(split_source("ol.json", json.dumps(items, indent=2))))
    assert [e.event_id for e in read if isinstance(e, Event)] == [events[0].event_id, events[1].event_id]
    broken_item, native_item = _bad(read)
    assert (broken_item.where, broken_item.reason) == ("item 2", "missing_field")
    assert "schemaURL" in broken_item.detail  # reported in OpenLineage's terms, as its document is
    assert str(broken_item.reading) == (
        "read as an OpenLineage RunEvent (as 2 of the 4 events in this document are)"
    )
    assert native_item.where == "item 4"
    assert str(native_item.reading) == (
        "read as an OpenLineage RunEvent (as 2 of the 4 events in this document are, "
        "though it has event_id, event_time, event_type, run.run_id)"
    )
    (one,) = events_of(split_source("one.json", json.dumps(to_openlineage(events[0]), indent=2)))
    assert isinstance(one, Event)
    assert one.event_id == events[0].event_id


def test_an_explicit_format_reads_every_event_that_way() -> None:
    events = [_event(i) for i in range(2)]
    text = _lines(event_to_json(events[0]), to_openlineage(events[1]))
    as_native = list(events_of(split_source("mixed.jsonl", text), "native"))
    assert as_native[0] == events[0]
    assert isinstance(as_native[1], BadInput)
    assert str(as_native[1]).startswith("mixed.jsonl: line 2: read as a native event (--format native): ")
    as_openlineage = list(events_of(split_source("mixed.jsonl", text), "openlineage"))
    assert isinstance(as_openlineage[0], BadInput)
    assert as_openlineage[0].reading == Reading("openlineage", "format", "--format openlineage")
    assert isinstance(as_openlineage[1], Event)


@pytest.mark.parametrize(
    ("reading", "says"),
    [
        (None, "one JSON object per line"),
        (Reading("native", "format", "--format native"), "leave out --format native"),
        (Reading("openlineage", "document", "as 2 of 3"), "write them as JSON lines"),
        (Reading("openlineage", "keys", "it has schemaURL"), "pass --format native"),
        (Reading("native", "default", "the default"), "pass --format openlineage"),
    ],
)
def test_each_failure_comes_with_what_to_do_next(reading: Reading | None, says: str) -> None:
    assert says in next_step(BadInput("f.jsonl", "line 1", "bad_type", "detail", reading))
