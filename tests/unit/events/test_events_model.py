"""Event value types: invariants checked when built, with stable rejection reasons."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from tests.helpers.event_strategies import sample_event

from provledger.errors import InvalidEvent
from provledger.events.ids import canonical_uuid, derived_event_id, new_event_id
from provledger.events.limits import MAX_ATTRIBUTES
from provledger.events.model import ArtifactRef, Event, EventType, Job, Run

DIGEST = "sha256:" + "ab" * 32


def test_a_fresh_event_id_is_a_uuid7_that_sorts_by_time() -> None:
    first, second = new_event_id(), new_event_id()
    assert canonical_uuid(first).version == canonical_uuid(second).version == 7  # type: ignore[union-attr]
    assert first[:8] <= second[:8]


def test_a_derived_event_id_depends_on_time_and_content_only() -> None:
    one = derived_event_id(1_700_000_000_000, b'{"a":1}')
    assert one == derived_event_id(1_700_000_000_000, b'{"a":1}')
    assert one != derived_event_id(1_700_000_000_000, b'{"a":2}')
    assert uuid.UUID(one).int >> 80 == 1_700_000_000_000
    assert uuid.UUID(one).version == 7


def test_attributes_are_kept_sorted_so_order_of_giving_does_not_matter() -> None:
    event = sample_event(attributes=(("z", "1"), ("a", "2")))
    assert event.attributes == (("a", "2"), ("z", "1"))
    assert event == sample_event(attributes=(("a", "2"), ("z", "1")))


def test_avro_record_round_trips() -> None:
    event = sample_event(payload_digest=DIGEST, openlineage=b"{}")
    assert Event.from_avro(event.to_avro()) == event


def test_inference_events_are_keyed_by_model_digest() -> None:
    model = ArtifactRef("models", "resnet50", DIGEST, "model")
    event = sample_event(event_type=EventType.INFERENCE, inputs=(model,))
    assert event.record_key() == DIGEST
    assert sample_event().record_key() == sample_event().run.run_id


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_id": "not-a-uuid"}, "bad_event_id"),
        ({"event_id": str(uuid.uuid4())}, "bad_event_id"),
        ({"event_id": "01938A6E-7C00-7ABC-8DEF-0123456789AB"}, "bad_event_id"),
        ({"event_time": datetime(2024, 1, 1)}, "bad_event_time"),
        ({"event_type": "EXPLODE"}, "bad_event_type"),
        ({"producer": "no scheme"}, "bad_producer"),
        ({"producer": ""}, "bad_producer"),
        ({"attributes": (("k", "1"), ("k", "2"))}, "duplicate_attribute"),
        ({"attributes": tuple((f"k{i}", "v") for i in range(MAX_ATTRIBUTES + 1))}, "oversized"),
        ({"attributes": (("k", 1),)}, "bad_type"),
        ({"payload_digest": "sha256:" + "AB" * 32}, "bad_digest"),
        ({"openlineage": b"x" * (1 << 20 + 1)}, "oversized"),
        ({"inputs": ("not an artifact",)}, "bad_type"),
        # What Postgres or datetime cannot hold is refused here, never at the write.
        (
            {"event_time": datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=23)))},
            "bad_event_time",
        ),
        ({"event_time": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))}, "bad_event_time"),
        ({"producer": "https://example.com/\x00"}, "bad_text"),
        ({"attributes": (("k", "v\x00"),)}, "bad_text"),
        ({"attributes": (("k\ud800", "v"),)}, "bad_text"),
        ({"attributes": (("k", "é" * 4097),)}, "oversized"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        sample_event(**changes)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: ArtifactRef("ns", "n", "sha256:" + "a" * 63, "model"), "bad_digest"),
        (lambda: ArtifactRef("ns", "n", "md5:" + "a" * 32, "model"), "bad_digest"),
        (lambda: ArtifactRef("ns", "n", DIGEST, "Model"), "bad_kind"),
        (lambda: ArtifactRef("", "n", DIGEST, "model"), "bad_name"),
        (lambda: ArtifactRef("ns", "n" * 2000, DIGEST, "model"), "oversized"),
        (lambda: Run("run-1"), "bad_run_id"),
        (lambda: Run(str(uuid.uuid4()), "parent"), "bad_run_id"),
        (lambda: Job("ns", ""), "bad_name"),
        (lambda: Job("ns\x00", "train"), "bad_text"),
        (lambda: Job("ns", "train\udfff"), "bad_text"),
        (lambda: Job("ns", "é" * 513), "oversized"),
        (lambda: ArtifactRef("ns", "n", DIGEST, "model", "v\x00"), "bad_text"),
    ],
)
def test_invalid_parts_are_rejected_with_a_reason(build: object, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        build()  # type: ignore[operator]
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({}, "missing_field"),
        ({**sample_event().to_avro(), "run": "r"}, "bad_type"),
        ({**sample_event().to_avro(), "inputs": "x"}, "bad_type"),
        ({**sample_event().to_avro(), "attributes": [{"key": "k"}]}, "missing_field"),
    ],
)
def test_records_of_the_wrong_shape_are_rejected(record: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        Event.from_avro(record)
    assert caught.value.reason == reason


def test_new_stamps_id_and_time() -> None:
    event = Event.new(
        EventType.START,
        job=Job("a", "b"),
        run=Run(str(uuid.uuid4())),
        producer="urn:x",
        attributes={"k": "v"},
    )
    assert uuid.UUID(event.event_id).version == 7
    assert (datetime.now(UTC) - event.event_time).total_seconds() < 5
    assert event.attributes == (("k", "v"),)
