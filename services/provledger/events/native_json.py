"""provledger events as JSON: what ``provledger emit --format native`` reads and the API shows.

The JSON form follows the Avro record field for field, with three conveniences for people
writing it by hand: ``event_time`` is an RFC 3339 string (or integer microseconds),
``attributes`` is an object, and ``openlineage`` (if any) is the RunEvent object itself rather
than its bytes. ``event_id`` may be left out: the id is then derived from ``event_time`` and the
RFC 8785 bytes of the object (see :mod:`provledger.events.ids`), so sending the same file twice
does not duplicate events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provledger.errors import InvalidEvent
from provledger.events.ids import derived_event_id
from provledger.events.model import ArtifactRef, Event, attribute_pairs, time_from_micros, unix_micros
from provledger.events.openlineage import canonical_json, load_json, parse_event_time


def event_from_json(document: Mapping[str, Any] | bytes | str) -> Event:
    """The event a native JSON object (or its text) describes, validated."""
    record = load_json(document) if isinstance(document, bytes | str) else document
    if not isinstance(record, Mapping):
        raise InvalidEvent("bad_type", f"an event must be a JSON object, not {type(record).__name__}")
    moment = record.get("event_time")
    if isinstance(moment, str):
        moment = parse_event_time(moment)
    elif isinstance(moment, int) and not isinstance(moment, bool):
        moment = time_from_micros(moment)
    attributes = record.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise InvalidEvent("bad_type", "attributes must be an object of strings")
    original = record.get("openlineage")
    avro = {
        **record,
        "event_time": moment,
        "attributes": [{"key": key, "value": value} for key, value in attribute_pairs(attributes)],
        "openlineage": None if original is None else canonical_json(original, "openlineage"),
    }
    if "event_id" not in record:
        avro["event_id"] = derived_event_id(unix_micros(moment) // 1000, canonical_json(record, "event"))
    return Event.from_avro(avro)


def _artifact_json(ref: ArtifactRef) -> dict[str, Any]:
    return {key: value for key, value in ref.to_avro().items() if value is not None}


def event_to_json(event: Event) -> dict[str, Any]:
    """The native JSON object of ``event``; :func:`event_from_json` gives the same event back."""
    document: dict[str, Any] = {
        "event_id": event.event_id,
        "event_time": event.event_time.isoformat(),
        "event_type": event.event_type.value,
        "producer": event.producer,
        "run": {"run_id": event.run.run_id},
        "job": {"namespace": event.job.namespace, "name": event.job.name},
        "inputs": [_artifact_json(ref) for ref in event.inputs],
        "outputs": [_artifact_json(ref) for ref in event.outputs],
        "attributes": dict(event.attributes),
    }
    if event.run.parent_run_id is not None:
        document["run"]["parent_run_id"] = event.run.parent_run_id
    if event.payload_digest is not None:
        document["payload_digest"] = event.payload_digest
    if event.openlineage is not None:
        document["openlineage"] = load_json(event.openlineage)
    return document
