"""Marquez's lineage graph over the known ML graph: node ids, nesting, edges, depth clamped, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from tests.helpers.lineage_graph import FEATURES, TRAIN_1, TRAIN_2, seal_demo_graph

from provledger.api.marquez import MAX_DEPTH, TRUNCATED_HEADER
from provledger.api.marquez_routes import router
from provledger.config import ApiSettings, load


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The Marquez router on a bare app with public reads, over the sealed known graph."""
    conn = await asyncpg.connect(database_url)
    try:
        await seal_demo_graph(conn)
    finally:
        await conn.close()
    app = FastAPI()
    app.include_router(router)
    app.state.settings = load(ApiSettings, public_reads=True)
    app.state.pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            yield http
    finally:
        await app.state.pool.close()


async def ok(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def refused(client: httpx.AsyncClient, status: int, **params: Any) -> dict[str, Any]:
    """GET /api/v1/lineage answers ``status`` with Marquez's error body (its handlers, no app's)."""
    response = await client.get("/api/v1/lineage", params=params)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == status
    return body


async def test_marquez_lineage_shape(client: httpx.AsyncClient) -> None:
    marquez = await ok(client, "/api/v1/lineage", nodeId="job:ml:train", depth=0)
    nodes = {n["id"]: n for n in marquez["graph"]}
    train = "job:ml:train"
    features, ckpt_1 = "dataset:s3://lake:features", "dataset:models:ckpt-1"
    outputs = [
        "dataset:models:ckpt-1",
        "dataset:models:ckpt-2",
        "dataset:models:model-1",
        "dataset:models:model-2",
    ]
    assert list(nodes) == sorted([train, features, *outputs])
    for node in marquez["graph"]:
        assert list(node) == ["id", "type", "data", "inEdges", "outEdges"]
    job = nodes[train]
    assert job["type"] == "JOB"
    assert job["inEdges"] == [{"origin": d, "destination": train} for d in sorted([features, ckpt_1])]
    assert job["outEdges"] == [{"origin": train, "destination": d} for d in outputs]
    assert job["data"]["id"] == {"namespace": "ml", "name": "train"}
    assert job["data"]["inputs"] == [{"namespace": "models", "name": "ckpt-1"},
                                     {"namespace": "s3://lake", "name": "features"}]  # fmt: skip
    assert job["data"]["provledger_runs"] == [TRAIN_1, TRAIN_2]
    dataset = nodes[features]
    assert (dataset["type"], dataset["data"]["id"]) == (
        "DATASET",
        {"namespace": "s3://lake", "name": "features"},
    )
    assert [v["digest"] for v in dataset["data"]["provledger_versions"]] == [FEATURES.digest]
    assert dataset["outEdges"] == [{"origin": features, "destination": train}]
    assert dataset["inEdges"] == []  # the feature job lies 2 edges away; depth 0 from a job walks 1

    wide = await ok(client, "/api/v1/lineage", nodeId="dataset:s3://lake:features", depth=1)
    assert {n["id"] for n in wide["graph"]} == {
        "dataset:s3://lake:raw-images", "job:etl:features", features, train, *outputs,
        "job:serving:deploy", "dataset:serving:endpoint",
    }  # fmt: skip
    edges = {(e["origin"], e["destination"]) for n in wide["graph"] for e in n["outEdges"]}
    assert ("dataset:models:ckpt-2", "dataset:models:model-2") in edges  # derived_from
    assert len(edges) == 11
    by_run = await ok(client, "/api/v1/lineage", nodeId=f"run:{TRAIN_2}", depth=0)
    assert train in {n["id"] for n in by_run["graph"]}
    response = await client.get("/api/v1/lineage", params={"nodeId": train})
    assert TRUNCATED_HEADER not in response.headers

    field = await refused(client, 400, nodeId="datasetField:s3://lake:features:col")
    assert "column-level" in field["message"]
    await refused(client, 400, nodeId="dataset:s3://lake:features#v1")
    await refused(client, 400, nodeId="dataset:nonamespace")
    await refused(client, 404, nodeId="job:nope:nope")
    deepest = await ok(client, "/api/v1/lineage", nodeId=train, depth=MAX_DEPTH)
    assert await ok(client, "/api/v1/lineage", nodeId=train, depth=MAX_DEPTH + 1) == deepest  # clamped
