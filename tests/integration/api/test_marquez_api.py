"""Marquez's read API over the demo platform's ledger: Marquez's shapes (as its UI reads them) and values.

The demo is played for real through the SDK into Kafka, read back and sealed into signed blocks;
one OpenLineage RunEvent is sealed beside it on the OpenLineage topic's shard, so the event log
shows both a RunEvent as it came and native events mapped to RunEvents.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from tests.helpers.api_harness import api_settings, client_for, seal
from tests.helpers.emit_consume import consume_events

from provledger.config import KafkaSettings
from provledger.demo.story import DEMO_MODEL, DEMO_MODEL_UPSTREAM, NAMESPACE
from provledger.demo.workload import run_demo
from provledger.emit import SyncEmitter
from provledger.events import Event
from provledger.events.openlineage import from_openlineage

#: Every job the demo's story runs (demo/workload.py).
DEMO_JOBS = {"ingest-raw", "ctr-pipeline", "build-features", "train-ctr", "evaluate-ctr", "register-model",
             "deploy", "ctr-ranker-serving", "fl-round", "fl-client-train", "fl-aggregate"}  # fmt: skip
RUN_EVENT_RUN = "01950000-0000-7000-8000-00000000abcd"
RUN_EVENT: dict[str, Any] = {
    "eventType": "COMPLETE", "eventTime": "2026-11-30T12:00:00.123+00:00", "producer": "https://airflow.test/dag",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": RUN_EVENT_RUN, "facets": {"nominalTime": {
        "_producer": "https://airflow.test/dag", "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/x.json",
        "nominalStartTime": "2026-11-30T11:00:00Z"}}},
    "job": {"namespace": "airflow", "name": "etl.load_orders", "facets": {}},
    "inputs": [{"namespace": "postgres://db:5432", "name": "public.orders"}], "outputs": [],
}  # fmt: skip


@dataclass(frozen=True)
class Ledger:
    api: httpx.AsyncClient
    events: list[Event]


@pytest.fixture
async def ledger(database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Ledger]:
    """The demo (and one OpenLineage RunEvent) sealed, and the API over it with public reads."""

    def play() -> int:
        with SyncEmitter(kafka_settings) as emitter:
            return run_demo(emitter, duration_s=0.3, inference_rate=20, say=lambda _: None).events

    sent = await asyncio.to_thread(play)
    events = await consume_events(kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, sent)
    run_event = from_openlineage(RUN_EVENT)
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events, block_size=64)
        await seal(conn, [run_event], block_size=1, topic="provledger.openlineage")
    finally:
        await conn.close()
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", public_reads=True)
    async with client_for(settings) as api:
        yield Ledger(api, [*events, run_event])


async def ok(api: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _is_time(value: object) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


async def test_namespaces_tags_and_stats(ledger: Ledger) -> None:
    api = ledger.api
    namespaces = (await ok(api, "/api/v1/namespaces"))["namespaces"]
    names = [n["name"] for n in namespaces]
    assert names == sorted(names)
    assert {NAMESPACE, "airflow", "postgres://db:5432"} <= set(names)
    for namespace in namespaces:
        assert set(namespace) == {"name", "createdAt", "updatedAt", "ownerName", "description", "isHidden"}
        assert _is_time(namespace["createdAt"])
        assert namespace["createdAt"] <= namespace["updatedAt"]
        assert namespace["isHidden"] is False
    one = await ok(api, f"/api/v1/namespaces/{quote('postgres://db:5432', safe='')}")
    assert one["name"] == "postgres://db:5432"
    assert await ok(api, "/api/v1/tags") == {"tags": []}
    for what in ("lineage-events", "jobs", "datasets", "sources"):
        assert await ok(api, f"/api/v1/stats/{what}", period="WEEK", timezone="Europe/Paris") == []
    assert await ok(api, "/api/v1/column-lineage", nodeId=f"dataset:{NAMESPACE}:x", depth=2) == {"graph": []}


async def test_datasets_and_their_versions(ledger: Ledger) -> None:
    api = ledger.api
    listed = await ok(api, f"/api/v1/namespaces/{NAMESPACE}/datasets", limit=100)
    names = [d["name"] for d in listed["datasets"]]
    assert names == sorted(names)
    assert {a.name for a in DEMO_MODEL_UPSTREAM} | {DEMO_MODEL.name} <= set(names)
    assert listed["totalCount"] == len(names)
    first, second = [
        await ok(api, f"/api/v1/namespaces/{NAMESPACE}/datasets", limit=3, offset=o) for o in (0, 3)
    ]
    assert [d["name"] for d in first["datasets"] + second["datasets"]] == names[:6]
    assert first["totalCount"] == listed["totalCount"]

    model = await ok(api, f"/api/v1/namespaces/{NAMESPACE}/datasets/{quote(DEMO_MODEL.name, safe='')}")
    assert model["id"] == {"namespace": NAMESPACE, "name": DEMO_MODEL.name}
    assert (model["type"], model["name"], model["physicalName"], model["sourceName"]) == (
        "DB_TABLE", DEMO_MODEL.name, DEMO_MODEL.name, NAMESPACE)  # fmt: skip
    assert (model["fields"], model["tags"], model["deleted"], model["columnLineage"]) == ([], [], False, [])
    assert model["currentVersion"] == DEMO_MODEL.digest
    assert model["facets"]["provledger_digest"]["digest"] == DEMO_MODEL.digest
    assert all(_is_time(model[k]) for k in ("createdAt", "updatedAt", "lastModifiedAt"))

    path = f"/api/v1/namespaces/{NAMESPACE}/datasets/{quote(DEMO_MODEL.name, safe='')}/versions"
    versions = await ok(api, path)
    assert versions["totalCount"] == 1
    [version] = versions["versions"]
    assert version["id"] == {"namespace": NAMESPACE, "name": DEMO_MODEL.name, "version": DEMO_MODEL.digest}
    assert version["version"] == DEMO_MODEL.digest
    assert version["fields"] == []
    run = version["createdByRun"]
    producer = next(e for e in ledger.events if DEMO_MODEL in e.outputs)
    assert run["id"] == producer.run.run_id
    assert run["jobVersion"]["name"] == producer.job.name
    assert run["state"] == "COMPLETED"
    assert run["durationMs"] >= 0
    assert _is_time(run["startedAt"])
    assert _is_time(run["endedAt"])


async def test_jobs_runs_and_facets(ledger: Ledger) -> None:
    api = ledger.api
    everything = await ok(api, "/api/v1/jobs")
    keys = [(j["namespace"], j["name"]) for j in everything["jobs"]]
    assert keys == sorted(keys)
    assert {name for ns, name in keys if ns == NAMESPACE} == DEMO_JOBS
    assert everything["totalCount"] == len(DEMO_JOBS) + 1  # and airflow's etl.load_orders
    demo = await ok(api, f"/api/v1/namespaces/{NAMESPACE}/jobs", limit=4, offset=2)
    assert [j["name"] for j in demo["jobs"]] == sorted(DEMO_JOBS)[2:6]
    assert demo["totalCount"] == len(DEMO_JOBS)

    by_state: dict[str, set[str]] = {}
    for j in everything["jobs"]:
        by_state.setdefault(j["latestRun"]["state"], set()).add(j["name"])
    for state, names in by_state.items():
        filtered = await ok(api, "/api/v1/jobs", lastRunStates=state)
        assert {j["name"] for j in filtered["jobs"]} == names
        assert filtered["totalCount"] == len(names)
    both = await ok(api, f"/api/v1/namespaces/{NAMESPACE}/jobs", lastRunStates=["FAILED", "COMPLETED"])
    in_demo = {j["name"] for j in everything["jobs"] if j["namespace"] == NAMESPACE}
    assert {j["name"] for j in both["jobs"]} == (
        by_state.get("FAILED", set()) | by_state["COMPLETED"]
    ) & in_demo
    assert (await ok(api, "/api/v1/jobs", lastRunStates="NEW")) == {"jobs": [], "totalCount": 0}

    job = await ok(api, f"/api/v1/namespaces/{NAMESPACE}/jobs/register-model")
    assert job["id"] == {"namespace": NAMESPACE, "name": "register-model"}
    assert job["type"] == "BATCH"
    assert {"namespace": NAMESPACE, "name": DEMO_MODEL.name} in job["outputs"]
    assert job["latestRun"]["state"] == "COMPLETED"
    assert job["latestRuns"] == [job["latestRun"]]
    assert job["tags"] == []
    assert job["parentJobName"] is None

    runs = await ok(api, f"/api/v1/namespaces/{NAMESPACE}/jobs/train-ctr/runs")
    assert runs["totalCount"] == len(runs["runs"]) == 3
    assert sorted(r["state"] for r in runs["runs"]) == ["COMPLETED", "COMPLETED", "FAILED"]
    created = [r["createdAt"] for r in runs["runs"]]
    assert created == sorted(created, reverse=True)  # newest first
    for run in runs["runs"]:
        assert set(run) >= {"id", "createdAt", "updatedAt", "nominalStartTime", "nominalEndTime", "state",
                            "jobVersion", "startedAt", "endedAt", "durationMs", "args", "facets"}  # fmt: skip
        assert run["jobVersion"]["namespace"] == NAMESPACE
        assert run["jobVersion"]["name"] == "train-ctr"

    native = await ok(api, f"/api/v1/jobs/runs/{runs['runs'][0]['id']}/facets", type="run")
    assert native["runId"] == runs["runs"][0]["id"]
    assert native["facets"]["provledger_event"]["attributes"]["learning_rate"]
    ingested = await ok(api, f"/api/v1/jobs/runs/{RUN_EVENT_RUN}/facets", type="run")
    assert ingested["facets"] == RUN_EVENT["run"]["facets"]
    assert (await ok(api, f"/api/v1/jobs/runs/{RUN_EVENT_RUN}/facets", type="job"))["facets"] == {}


async def test_lineage_clamps_depth_and_search_finds_by_part(ledger: Ledger) -> None:
    api = ledger.api
    node = f"dataset:{NAMESPACE}:{DEMO_MODEL.name}"
    graph = (await ok(api, "/api/v1/lineage", nodeId=node, depth=10**30))["graph"]
    ids = {n["id"] for n in graph}
    assert {f"dataset:{NAMESPACE}:{a.name}" for a in DEMO_MODEL_UPSTREAM} | {node} <= ids
    dataset = next(n for n in graph if n["id"] == node)
    assert dataset["data"]["facets"]["provledger_digest"]["digest"] == DEMO_MODEL.digest

    found = await ok(api, "/api/v1/search", q="ctr-ranker", limit=100)
    assert found["totalCount"] == len(found["results"])
    assert {"type": "DATASET", "name": DEMO_MODEL.name, "namespace": NAMESPACE, "nodeId": node} in [
        {k: v for k, v in r.items() if k != "updatedAt"} for r in found["results"]
    ]
    jobs = await ok(api, "/api/v1/search", q="%TRAIN%", filter="JOB", sort="UPDATE_AT")
    assert {r["nodeId"] for r in jobs["results"]} == {
        f"job:{NAMESPACE}:train-ctr",
        f"job:{NAMESPACE}:fl-client-train",
    }
    assert all(r["type"] == "JOB" for r in jobs["results"])
    beta = await ok(api, "/api/v2beta/search/datasets", q="keyboard")
    assert [h["name"] for h in beta["hits"]] == ["models/keyboard-global"]
    assert beta["highlights"] == [{}]
    assert (await ok(api, "/api/v2beta/search/jobs", q="deploy"))["hits"][0]["namespace"] == NAMESPACE

    by_digest = await ok(api, "/v1/search", q=DEMO_MODEL.digest[:15])
    model = {"type": "artifact", "namespace": NAMESPACE, "name": DEMO_MODEL.name, "kind": "model",
             "digest": DEMO_MODEL.digest}  # fmt: skip
    assert model in [{k: v for k, v in r.items() if k != "id"} for r in by_digest["results"]]
    run_id = ledger.events[0].run.run_id
    by_run = await ok(api, "/v1/search", q=run_id[:8])
    assert any(r["type"] == "run" and r["id"] == run_id and r["kind"] is None for r in by_run["results"])
    by_part = await ok(api, "/v1/search", q="RANKER", limit=2)
    assert len(by_part["results"]) == 2
    assert by_part["truncated"] is True
    artifact = next(
        r for r in (await ok(api, "/v1/search", q="models/ctr"))["results"] if r["type"] == "artifact"
    )
    assert (await ok(api, f"/v1/artifacts/{artifact['id']}"))["name"] == artifact["name"]


async def test_events_lineage_replays_sealed_run_events(ledger: Ledger) -> None:
    api = ledger.api
    everything = await ok(api, "/api/v1/events/lineage", limit=100, before="", after="", sortDirection="desc")
    assert everything["totalCount"] == len(ledger.events) <= 100
    events = everything["events"]
    assert len(events) == len(ledger.events)
    assert RUN_EVENT in events  # as it came
    for event in events:
        assert {"eventType", "eventTime", "producer", "schemaURL", "run", "job", "inputs", "outputs"} <= set(
            event
        )
    ids = [uuid.UUID(e["run"]["facets"]["provledger_event"]["eventId"]) for e in events if e is not RUN_EVENT
           and "provledger_event" in e["run"]["facets"]]  # fmt: skip
    assert ids == sorted(ids, reverse=True)
    ascending = await ok(api, "/api/v1/events/lineage", limit=100, sortDirection="asc")
    assert ascending["events"] == events[::-1]
    pages = [await ok(api, "/api/v1/events/lineage", limit=7, offset=o) for o in range(0, len(events), 7)]
    assert [e for p in pages for e in p["events"]] == events

    cut = datetime(2026, 12, 1, tzinfo=UTC)
    before = await ok(api, "/api/v1/events/lineage", before=cut.isoformat())
    assert before == {"events": [RUN_EVENT], "totalCount": 1}
    after = await ok(api, "/api/v1/events/lineage", after=cut.isoformat())
    assert RUN_EVENT not in after["events"]
    assert after["totalCount"] == len(events) - 1
