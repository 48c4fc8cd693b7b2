"""Parsing and validating ingest bodies: every outcome is events or reasons, never an exception."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from provledger.api import ingest
from provledger.api.problems import ProblemError
from provledger.api.tokens import Scope, TokenEntry
from provledger.events.limits import DEFAULT_MAX_RECORD_BYTES
from provledger.events.openlineage import from_openlineage

EMITTER = TokenEntry("emitter", bytes(32), frozenset({Scope.EMIT}))
LIMIT = ingest._Submission(EMITTER, DEFAULT_MAX_RECORD_BYTES)


def _run_event() -> dict[str, Any]:
    return {
        "eventType": "START", "eventTime": datetime.now(UTC).isoformat(), "producer": "https://provledger.test/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "n", "name": "j"},
    }  # fmt: skip


def _body(document: Any) -> bytearray:
    return bytearray(json.dumps(document).encode())


@pytest.mark.parametrize(
    "wrap", [lambda events: events, lambda events: {"events": events}], ids=["array", "object"]
)
def test_a_batch_gives_each_event_or_the_reason_for_each_invalid_one(wrap: Any) -> None:
    validated = ingest._batch(LIMIT, _body(wrap([_run_event(), [1], "x", _run_event()])))
    assert validated.count == 4
    assert len(validated.events) == 2
    assert [(p.location, p.reason) for p in validated.problems] == [
        ("events[1]", "bad_type"),
        ("events[2]", "bad_type"),
    ]


@pytest.mark.parametrize("document", [[], {"events": []}, {"events": 1}, {}, 7, "events"])
def test_what_is_not_a_non_empty_batch_is_400(document: Any) -> None:
    with pytest.raises(ProblemError, check=lambda exc: (exc.status, exc.slug) == (400, "not-a-batch")):
        ingest._batch(LIMIT, _body(document))


def test_more_than_the_batch_limit_is_413_before_the_rest_is_parsed() -> None:
    body = bytearray(b"[" + b"{}," * ingest.MAX_BATCH_EVENTS + b"{}, not json at all")
    with pytest.raises(ProblemError, check=lambda exc: (exc.status, exc.slug) == (413, "batch-too-large")):
        ingest._batch(LIMIT, body)


def test_a_mapping_failure_without_a_reason_is_refused_as_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(document: Any, *args: Any, **kwargs: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(ingest, "from_openlineage", broken)
    validated = ingest._one(LIMIT, _body(_run_event()))
    assert validated.events == []
    assert [(p.location, p.reason) for p in validated.problems] == [("body", "unreadable")]


def test_a_run_event_larger_than_a_record_is_refused_not_published() -> None:
    """Each RunEvent travels as one record of its RFC 8785 bytes: past the record limit it is refused."""
    event = _run_event() | {"run": {"runId": str(uuid.uuid4()), "facets": {"big": {"x": "y" * 70_000}}}}
    assert ingest._one(LIMIT, _body(event)).events
    validated = ingest._one(ingest._Submission(EMITTER, 64 << 10), _body(event))
    assert validated.events == []
    assert [problem.reason for problem in validated.problems] == ["oversized"]


def test_each_event_is_stamped_with_its_submitter_which_the_sealer_reads_back() -> None:
    """The published RFC 8785 bytes carry the token name; mapping them again gives the same event."""
    document = _run_event()
    document["run"]["facets"] = {
        "provledger_event": {"attributes": {"team": "ml"}, "_producer": "p", "_schemaURL": "s"}
    }
    (event,) = ingest._one(LIMIT, _body(document)).events
    assert dict(event.attributes) == {"provledger.submitter": "emitter", "team": "ml"}
    assert event.openlineage is not None
    assert from_openlineage(event.openlineage) == event  # what the sealer maps from the record
    assert json.loads(event.openlineage)["run"]["facets"]["provledger_event"]["_producer"] == "p"
    (bare,) = ingest._one(LIMIT, _body(_run_event())).events  # no facet: one is added
    assert dict(bare.attributes) == {"provledger.submitter": "emitter"}


@pytest.mark.parametrize("key", ["provledger.submitter", "Provledger.Submitter"])
def test_a_run_event_naming_its_own_submitter_is_refused(key: str) -> None:
    document = _run_event()
    document["run"]["facets"] = {"provledger_event": {"attributes": {key: "someone-else"}}}
    validated = ingest._one(LIMIT, _body(document))
    assert validated.events == []
    assert [(p.location, p.reason) for p in validated.problems] == [("body", "reserved_attribute")]


def test_events_outside_the_tokens_namespaces_are_set_aside_by_index() -> None:
    token = TokenEntry("etl", bytes(32), frozenset({Scope.EMIT}), frozenset({"a"}))
    documents = [_run_event() for _ in range(3)]
    documents[0]["job"]["namespace"] = "a"
    documents[2]["job"]["namespace"] = "a"
    validated = ingest._batch(ingest._Submission(token, DEFAULT_MAX_RECORD_BYTES), _body(documents))
    assert [e.job.namespace for e in validated.events] == ["a", "a"]
    assert [(p.location, p.reason) for p in validated.forbidden] == [("events[1]", "namespace_not_allowed")]
    assert "'n'" in validated.forbidden[0].detail
    assert validated.problems == []


@pytest.mark.parametrize(
    ("facets", "reason"),
    [({"provledger_event": "x"}, "bad_type"), ({"provledger_event": {"attributes": [1]}}, "bad_type"),
     ([], None), ({"provledger_event": {"attributes": None}}, None)],
)  # fmt: skip
def test_stamping_gives_the_mappings_own_reasons_for_odd_facets(facets: Any, reason: str | None) -> None:
    """An empty facets value is stamped as an absent one; a facet that is not an object is refused."""
    document = _run_event()
    document["run"]["facets"] = facets
    validated = ingest._one(LIMIT, _body(document))
    assert [p.reason for p in validated.problems] == ([reason] if reason else [])
    stamped = [{"provledger.submitter": "emitter"}]
    assert [dict(e.attributes) for e in validated.events] == ([] if reason else stamped)
