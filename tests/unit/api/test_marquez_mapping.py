"""Pure mapping of provledger's values onto Marquez's shapes, and the edge checks of Marquez's paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from provledger.api.marquez_errors import MarquezError4xx
from provledger.api.marquez_models import (
    MarquezDataset,
    MarquezDatasetVersion,
    MarquezJob,
    MarquezRun,
    last_event_types,
    merged_facets,
    run_event,
    run_state,
)
from provledger.api.marquez_params import END_OF_TIME, MAX_RAW_PATH, moment, segments
from provledger.errors import VerificationError
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.events.canonical import canonical_event_bytes
from provledger.store.lineage import Artifact
from provledger.store.lineage import Run as LedgerRun
from provledger.store.marquez import Dataset, DatasetVersion, RunState, uuid7_floor
from provledger.store.marquez import Job as LedgerJob

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RUN = LedgerRun("0195a3c4-0000-7000-8000-000000000001", None, "ml", "pipelines.train", T0)
MODEL = Artifact(7, "models", "resnet/50", "sha256:" + "ab" * 32, "model", "3", T0 + timedelta(minutes=5))


def state(last: str | None, *, seconds: float = 90) -> RunState:
    return RunState(RUN, T0 if last else None, T0 + timedelta(seconds=seconds) if last else None, last)


@pytest.mark.parametrize(
    ("last", "expected"),
    [(None, "NEW"), ("START", "RUNNING"), ("RUNNING", "RUNNING"), ("COMPLETE", "COMPLETED"),
     ("FAIL", "FAILED"), ("ABORT", "ABORTED"), ("OTHER", "RUNNING"), ("INFERENCE", "RUNNING")],
)  # fmt: skip
def test_a_run_is_in_the_state_its_last_event_leaves_it(last: str | None, expected: str) -> None:
    assert run_state(last) == expected


def test_a_state_filter_asks_for_the_event_types_that_lead_to_it() -> None:
    assert last_event_types(["COMPLETED"]) == ["COMPLETE"]
    assert last_event_types(["RUNNING", "FAILED"]) == ["FAIL", "INFERENCE", "OTHER", "RUNNING", "START"]
    assert last_event_types(["NEW"]) == []


def test_a_finished_run_has_an_end_and_a_duration_a_running_one_neither() -> None:
    done = MarquezRun.of(state("COMPLETE", seconds=90.5)).model_dump(mode="json")
    assert (done["state"], done["durationMs"]) == ("COMPLETED", 90500)
    assert done["startedAt"] == "2026-12-01T12:00:00Z"
    assert done["endedAt"] == "2026-12-01T12:01:30.500000Z"
    assert done["jobVersion"] == {"namespace": "ml", "name": "pipelines.train", "version": RUN.run_id}
    assert (done["args"], done["facets"], done["nominalStartTime"]) == ({}, {}, None)
    running = MarquezRun.of(state("START")).model_dump(mode="json")
    assert (running["state"], running["endedAt"], running["durationMs"]) == ("RUNNING", None, None)
    fresh = MarquezRun.of(state(None)).model_dump(mode="json")
    assert (fresh["state"], fresh["startedAt"], fresh["updatedAt"]) == ("NEW", None, "2026-12-01T12:00:00Z")


def test_a_job_shows_its_latest_run_and_its_datasets() -> None:
    job = LedgerJob(
        "ml", "pipelines.train", T0, state("FAIL"), (("s3://lake", "features"),), (("models", "m"),)
    )
    out = MarquezJob.of(job).model_dump(mode="json")
    assert out["id"] == {"namespace": "ml", "name": "pipelines.train"}
    assert (out["type"], out["simpleName"]) == ("BATCH", "train")
    assert out["inputs"] == [{"namespace": "s3://lake", "name": "features"}]
    assert out["outputs"] == [{"namespace": "models", "name": "m"}]
    assert out["latestRun"]["state"] == "FAILED"
    assert out["latestRuns"] == [out["latestRun"]]
    assert out["updatedAt"] == out["latestRun"]["updatedAt"]


def test_a_dataset_is_every_digest_of_a_name_its_versions_are_digests() -> None:
    dataset = MarquezDataset.of(Dataset(MODEL, T0, versions=3)).model_dump(mode="json")
    assert dataset["id"] == {"namespace": "models", "name": "resnet/50"}
    assert (dataset["createdAt"], dataset["updatedAt"]) == ("2026-12-01T12:00:00Z", "2026-12-01T12:05:00Z")
    assert dataset["currentVersion"] == MODEL.digest
    facet = dataset["facets"]["provledger_digest"]
    assert (facet["digest"], facet["kind"], facet["version"]) == (MODEL.digest, "model", "3")
    assert (dataset["fields"], dataset["tags"], dataset["deleted"]) == ([], [], False)
    version = MarquezDatasetVersion.of(DatasetVersion(MODEL, state("COMPLETE"))).model_dump(mode="json")
    assert version["id"] == {"namespace": "models", "name": "resnet/50", "version": MODEL.digest}
    assert version["createdByRun"]["id"] == RUN.run_id
    assert MarquezDatasetVersion.of(DatasetVersion(MODEL, None)).createdByRun is None


def test_facets_merge_in_event_order_later_ones_win() -> None:
    events: list[dict[str, Any]] = [
        {"run": {"facets": {"a": {"v": 1}, "b": {"v": 1}}}, "job": {"facets": {"sql": {"q": "x"}}}},
        {"run": {"facets": {"b": {"v": 2}}}},
        {"run": "not an object"},
        {"run": {"facets": ["not", "a", "map"]}},
    ]
    assert merged_facets(events, "run") == {"a": {"v": 1}, "b": {"v": 2}}
    assert merged_facets(events, "job") == {"sql": {"q": "x"}}


def test_a_sealed_native_event_replays_as_a_run_event_and_garbage_fails_closed() -> None:
    event = Event.new(EventType.COMPLETE, job=Job("ml", "train"), run=Run(RUN.run_id), producer="https://p.test/x",
                      outputs=[ArtifactRef("models", "m", MODEL.digest, "model")])  # fmt: skip
    replayed = run_event(canonical_event_bytes(event))
    assert (replayed["eventType"], replayed["run"]["runId"]) == ("COMPLETE", RUN.run_id)
    assert replayed["outputs"][0]["facets"]["provledger_digest"]["digest"] == MODEL.digest
    with pytest.raises(VerificationError, match="do not decode"):
        run_event(b"\xff\x00 not avro")


def _request(raw: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": raw.decode("latin-1"), "raw_path": raw,
                    "query_string": b"", "headers": []})  # fmt: skip


def test_names_with_slashes_are_read_from_the_raw_path() -> None:
    raw = b"/api/v1/namespaces/s3%3A%2F%2Flake/datasets/models%2Fresnet%2F50/versions"
    assert segments(_request(raw), "/api/v1/namespaces/") == [
        "s3://lake",
        "datasets",
        "models/resnet/50",
        "versions",
    ]
    assert segments(_request(b"/api/v1/namespaces/caf%C3%A9"), "/api/v1/namespaces/") == ["café"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"/api/v1/namespaces/a%00b", 400), (b"/api/v1/namespaces/%FF", 400), (b"/api/v1/namespaces/a//b", 400),
     (b"/api/v1/namespaces/" + b"a" * 1025, 400), (b"/api/v1/namespaces/" + b"a/" * MAX_RAW_PATH, 414),
     (b"/api/v1/elsewhere", 404)],
)  # fmt: skip
def test_hostile_path_segments_are_refused_with_a_reason(raw: bytes, status: int) -> None:
    with pytest.raises(MarquezError4xx) as refused:
        segments(_request(raw), "/api/v1/namespaces/")
    assert refused.value.status == status
    assert refused.value.message


def test_times_are_rfc3339_with_an_offset_and_empty_means_unset() -> None:
    assert moment("", "before", END_OF_TIME) == END_OF_TIME
    assert moment("2026-12-01T13:00:00+01:00", "after", END_OF_TIME) == T0
    assert moment("2026-12-01T12:00:00Z", "after", END_OF_TIME) == T0
    assert moment("2026-12-01T13:00:00 01:00", "after", END_OF_TIME) == T0  # '+' decoded as a space
    for bad in ("2026-12-01T12:00:00", "yesterday", "9999-12-31T23:59:59-23:59"):
        with pytest.raises(MarquezError4xx, match="RFC 3339"):
            moment(bad, "after", END_OF_TIME)


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_uuid7_floors_sort_as_their_times(a: datetime, b: datetime) -> None:
    """SPEC (RFC 9562 5.7): the first 48 bits are the Unix time in ms, so the ids sort as their times."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    floor = uuid7_floor(a)
    assert int.from_bytes(floor.bytes[:6], "big") == max((a - epoch) // timedelta(milliseconds=1), 0)
    assert floor.bytes[6:] == bytes(10)
    if a <= b:
        assert floor.bytes <= uuid7_floor(b).bytes
