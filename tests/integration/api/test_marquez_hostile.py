"""Marquez's paths refuse every hostile parameter with a 4xx in Marquez's error shape, never a 500;
writes on them are 405, while provledger's OpenLineage ingest on ``POST /api/v1/lineage`` still takes
RunEvents; reads need a token unless reads are public."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from tests.helpers.api_harness import Tokens, api_settings, client_for, events, make_tokens, seal

from provledger.api.server import BackgroundApi
from provledger.config import KafkaSettings

HUGE = "9" * 40
PAGED = ("/api/v1/namespaces", "/api/v1/jobs", "/api/v1/namespaces/vision/jobs", "/api/v1/events/lineage",
         "/api/v1/namespaces/s3%3A%2F%2Flake/datasets", "/api/v1/tags")  # fmt: skip

HOSTILE: list[tuple[str, dict[str, str], int]] = [
    *((path, {"limit": value}, 400) for path in PAGED for value in ("-1", "101", HUGE, "1e3", "")),
    *((path, {"offset": value}, 400) for path in PAGED for value in ("-1", "10001", HUGE, "x")),
    ("/api/v1/lineage", {"nodeId": "dataset:a\x00:b"}, 400),
    ("/api/v1/lineage", {"nodeId": "dataset:" + "a" * 5000 + ":b"}, 400),
    ("/api/v1/lineage", {"nodeId": "datasetField:s3://lake:imagenet:col"}, 400),
    ("/api/v1/lineage", {"nodeId": "dataset:nonamespace"}, 400),
    ("/api/v1/lineage", {"nodeId": "job:vision:train", "depth": "-1"}, 400),
    ("/api/v1/lineage", {"nodeId": "job:vision:train", "depth": "deep"}, 400),
    ("/api/v1/lineage", {"nodeId": "run:not-a-uuid"}, 400),
    ("/api/v1/lineage", {"nodeId": "job:nope:nope"}, 404),
    ("/api/v1/lineage", {}, 400),
    ("/api/v1/column-lineage", {"nodeId": "x\x00"}, 400),
    ("/api/v1/search", {}, 400),
    ("/api/v1/search", {"q": ""}, 400),
    ("/api/v1/search", {"q": "%%"}, 400),
    ("/api/v1/search", {"q": "a" * 257}, 400),
    ("/api/v1/search", {"q": "a\x00b"}, 400),
    ("/api/v1/search", {"q": "a", "filter": "RUN"}, 400),
    ("/api/v1/search", {"q": "a", "sort": "DROP TABLE"}, 400),
    ("/api/v1/search", {"q": "a", "before": "2026-13-99x"}, 400),
    ("/api/v2beta/search/jobs", {"q": "x" * 300}, 400),
    ("/api/v2beta/search/datasets", {}, 400),
    ("/api/v1/events/lineage", {"before": "yesterday"}, 400),
    ("/api/v1/events/lineage", {"after": "2026-01-01T00:00:00"}, 400),  # no offset
    ("/api/v1/events/lineage", {"after": "9999-12-31T23:59:59-23:59"}, 400),  # year 10000 in UTC
    ("/api/v1/events/lineage", {"after": "x" * 65}, 400),
    ("/api/v1/events/lineage", {"sortDirection": "sideways"}, 400),
    ("/api/v1/jobs", {"lastRunStates": "EXPLODED"}, 400),
    ("/api/v1/stats/jobs", {"period": "YEAR"}, 400),
    ("/api/v1/stats/jobs", {"period": "DAY", "timezone": "Europe"}, 400),  # a folder of zones
    ("/api/v1/stats/jobs", {"period": "DAY", "timezone": "../../../etc/passwd"}, 400),
    ("/api/v1/stats/users", {"period": "DAY"}, 400),
    ("/api/v1/jobs/runs/NOT-A-UUID/facets", {"type": "run"}, 400),
    (f"/api/v1/jobs/runs/{uuid.uuid4()}/facets", {"type": "run"}, 404),
    (f"/api/v1/jobs/runs/{uuid.uuid4()}/facets", {"type": "dataset"}, 400),
    ("/api/v1/namespaces/nope", {}, 404),
    ("/api/v1/sources", {}, 404),
    ("/api/v2beta/elsewhere/x", {}, 404),
    ("/api/v1/namespaces/vision/datasets/nope", {}, 404),
    ("/api/v1/namespaces/vision/jobs/nope/runs", {}, 404),
    ("/api/v1/namespaces/vision/jobs/train/versions", {}, 404),
    ("/api/v1/namespaces/vision/spells", {}, 404),
    ("/api/v1/namespaces/a%00b", {}, 400),
    ("/api/v1/namespaces/a%0Ab", {}, 404),  # a newline: still Marquez's route, and its error
    ("/api/v2beta/a%0Ab", {}, 404),
    ("/api/v1/namespaces/%FF%FE", {}, 400),
    ("/api/v1/namespaces/vision//jobs", {}, 400),
    ("/api/v1/namespaces/" + "a" * 1025, {}, 400),
    ("/api/v1/namespaces/" + "a/" * 5000, {}, 414),
]


@pytest.fixture
async def marquez(database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(12), block_size=5)
    finally:
        await conn.close()
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    async with client_for(settings, tokens.read) as api:
        yield api, settings, tokens


def assert_marquez_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is Marquez's ``{code, message, details}`` with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == status
    assert body["message"]
    return body


async def test_hostile_parameters_are_4xx_in_marquez_shape(marquez: Any) -> None:
    api, _, _ = marquez
    for path, params, status in HOSTILE:
        response = await api.get(path, params=params)
        assert_marquez_error(response, status)
    # The UI's own forms are fine: a depth beyond the cap is clamped, empty times are unset.
    deep = await api.get("/api/v1/lineage", params={"nodeId": "dataset:s3://lake:imagenet", "depth": HUGE})
    assert deep.status_code == 200
    assert deep.json()["graph"]
    assert (await api.get("/api/v1/events/lineage", params={"before": "", "after": ""})).json()[
        "totalCount"
    ] == 12
    assert (await api.get("/api/v1/namespaces/s3%3A%2F%2Flake/datasets/imagenet")).json()[
        "name"
    ] == "imagenet"


async def test_writes_are_refused_and_ingest_still_takes_run_events(marquez: Any) -> None:
    api, settings, tokens = marquez
    for path in ("/api/v1/namespaces", "/api/v1/namespaces/vision", "/api/v1/namespaces/vision/jobs/train",
                 "/api/v1/namespaces/vision/datasets/x/tags/PII", "/api/v1/jobs", "/api/v1/tags",
                 f"/api/v1/jobs/runs/{uuid.uuid4()}/facets", "/api/v1/search", "/api/v1/events/lineage",
                 "/api/v1/stats/jobs", "/api/v1/column-lineage", "/api/v2beta/search/jobs"):  # fmt: skip
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            refused = assert_marquez_error(await api.request(method, path), 405)
            assert method in refused["message"]
    for method in ("PUT", "PATCH", "DELETE"):
        response = await api.request(method, "/api/v1/lineage")
        assert_marquez_error(response, 405)
        assert response.headers["allow"] == "GET, POST"

    run_id = str(uuid.uuid4())
    event = {"eventType": "START", "eventTime": datetime.now(UTC).isoformat(), "producer": "https://p.test/x",
             "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
             "run": {"runId": run_id}, "job": {"namespace": "n", "name": "j"},
             "inputs": [], "outputs": []}  # fmt: skip
    async with client_for(settings, tokens.emit) as emitter:
        assert (await emitter.post("/api/v1/lineage", json=event)).status_code == 201
        batch = await emitter.post("/api/v1/lineage/batch", json=[{**event, "eventType": "COMPLETE"}])
        assert batch.status_code == 201, batch.text


async def test_reads_need_a_token_unless_public(marquez: Any) -> None:
    _, settings, tokens = marquez
    async with client_for(settings) as anonymous:
        for path in ("/api/v1/namespaces", "/api/v1/lineage?nodeId=job:vision:train", "/api/v1/search?q=a"):
            body = assert_marquez_error(await anonymous.get(path), 401)
            assert "read" in body["message"]
    async with client_for(settings, tokens.emit) as emitter:
        assert_marquez_error(await emitter.get("/api/v1/jobs"), 403)
    async with client_for(settings.model_copy(update={"public_reads": True})) as public:
        jobs = (await public.get("/api/v1/jobs")).json()
        assert [(j["namespace"], j["name"]) for j in jobs["jobs"]] == [("vision", "train")]
        assert jobs["jobs"][0]["latestRun"]["state"] == "COMPLETED"


async def test_names_holding_slashes_reach_uvicorn_percent_encoded(marquez: Any) -> None:
    """Through a real server (uvicorn's ``raw_path``), as Marquez's UI sends them: each name encoded."""
    _, settings, tokens = marquez
    server = await asyncio.to_thread(BackgroundApi, settings.model_copy(update={"api_port": 0}))
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=Tokens.bearer(tokens.read)) as api:
            lake = quote("s3://lake", safe="")
            dataset = await api.get(f"/api/v1/namespaces/{lake}/datasets/imagenet")
            assert dataset.status_code == 200, dataset.text
            assert dataset.json()["id"] == {"namespace": "s3://lake", "name": "imagenet"}
            model = quote("m3", safe="")
            versions = (await api.get(f"/api/v1/namespaces/models/datasets/{model}/versions")).json()
            assert [v["version"] for v in versions["versions"]] == ["sha256:" + f"{3:064x}"]
            assert_marquez_error(await api.get("/api/v1/namespaces/s3:%2F%2Flake%FF/datasets"), 400)
    finally:
        await asyncio.to_thread(server.stop)
