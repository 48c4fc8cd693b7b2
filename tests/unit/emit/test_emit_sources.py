"""JSON and JSON-lines sources: each line an event or a located reason, never a stop."""

from __future__ import annotations

import json
import uuid

from provledger.emit.artifacts import bytes_digest
from provledger.emit.sources import BadInput, events_of, split_source
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
