"""Hypothesis strategies for valid events, shared by the events tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import strategies as st

from provledger.events.ids import derived_event_id
from provledger.events.model import ArtifactRef, Event, EventType, Job, Run

#: What the ledger holds (provledger.events.limits): any Unicode but surrogates and NUL.
characters = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")
texts = st.text(characters, min_size=1, max_size=40)
digests = st.binary(min_size=32, max_size=32).map(lambda raw: "sha256:" + raw.hex())
kinds = st.sampled_from(["dataset", "model", "checkpoint", "prediction", "features", "inference-input"])
uuids = st.uuids().map(str)
artifacts = st.builds(
    ArtifactRef, namespace=texts, name=texts, digest=digests, kind=kinds, version=st.none() | texts
)
times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@st.composite
def events(draw: st.DrawFn) -> Event:
    moment = draw(times)
    return Event(
        event_id=derived_event_id(int(moment.timestamp() * 1000), draw(st.binary(max_size=8))),
        event_time=moment,
        event_type=draw(st.sampled_from(EventType)),
        producer="https://example.com/" + draw(st.text("abc/-_", max_size=10)),
        run=Run(draw(uuids), draw(st.none() | uuids)),
        job=Job(draw(texts), draw(texts)),
        inputs=tuple(draw(st.lists(artifacts, max_size=3))),
        outputs=tuple(draw(st.lists(artifacts, max_size=3))),
        attributes=tuple(draw(st.dictionaries(texts, st.text(characters, max_size=20), max_size=4)).items()),
        payload_digest=draw(st.none() | digests),
        openlineage=draw(st.none() | st.binary(max_size=50)),
    )


def sample_event(**changes: object) -> Event:
    """One fixed, realistic event; keyword arguments replace its fields."""
    fields: dict[str, object] = {
        "event_id": "01938a6e-7c00-7abc-8def-0123456789ab",
        "event_time": datetime(2024, 11, 24, 16, 0, 0, 123456, tzinfo=UTC),
        "event_type": EventType.COMPLETE,
        "producer": "https://github.com/example/trainer/v1.2",
        "run": Run(str(uuid.UUID("01938a6e-7c00-7000-8000-000000000001"))),
        "job": Job("vision", "train-resnet"),
        "inputs": (ArtifactRef("s3://datasets", "imagenet-1k", "sha256:" + "11" * 32, "dataset", "2012"),),
        "outputs": (ArtifactRef("models", "resnet50", "sha256:" + "22" * 32, "model"),),
        "attributes": (("epochs", "90"), ("lr", "0.1")),
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]
