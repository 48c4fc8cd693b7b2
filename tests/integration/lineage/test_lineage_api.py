"""The lineage router over HTTP (ASGI), on a small app holding a real pool and the known graph."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from tests.helpers.lineage_graph import (
    CKPT_2,
    DEPLOY,
    ENDPOINT,
    FEATURE_RUN,
    FEATURES,
    MODEL_2,
    RAW,
    TRAIN_1,
    TRAIN_2,
    DemoGraph,
    seal_demo_graph,
)

from provledger.api.lineage import router
from provledger.api.problems import install_handlers
from provledger.config import ApiSettings, load

UNKNOWN_RUN = "00000000-0000-4000-8000-00000000ffff"


@pytest.fixture
async def demo(database_url: str) -> DemoGraph:
    conn = await asyncpg.connect(database_url)
    try:
        return await seal_demo_graph(conn)
    finally:
        await conn.close()


@pytest.fixture
async def app(database_url: str, demo: DemoGraph) -> AsyncIterator[FastAPI]:
    """The router on a bare app with the API's problem handlers, public reads and a real pool."""
    application = FastAPI()
    install_handlers(application)
    application.include_router(router)
    application.state.settings = load(ApiSettings, public_reads=True)
    application.state.pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield application
    finally:
        await application.state.pool.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


async def ok(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def problem(client: httpx.AsyncClient, path: str, status: int, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"  # RFC 9457 section 3
    body: dict[str, Any] = response.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    return body


async def every_page(client: httpx.AsyncClient, path: str, **params: Any) -> list[Any]:
    items, cursor = [], None
    while True:
        page = await ok(client, path, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_artifacts_by_name_digest_and_page(client: httpx.AsyncClient, demo: DemoGraph) -> None:
    everything = await every_page(client, "/v1/artifacts", limit=2)
    assert [a["artifact_id"] for a in everything] == sorted(demo.ids.values())
    (features,) = (await ok(client, "/v1/artifacts", namespace="s3://lake", name="features"))["items"]
    assert features == {
        "node": f"artifact:{demo[FEATURES]}", "artifact_id": demo[FEATURES], "namespace": "s3://lake",
        "name": "features", "digest": FEATURES.digest, "kind": "dataset", "version": None,
        "first_seen": demo.sealed[0].isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    by_digest = await ok(client, "/v1/artifacts", digest=MODEL_2.digest)
    assert [a["name"] for a in by_digest["items"]] == ["model-2"]
    assert await ok(client, f"/v1/artifacts/{demo[FEATURES]}") == features
    missing = await problem(client, "/v1/artifacts/999999", 404)
    assert "no artifact 999999" in missing["detail"]
    before = demo.sealed[0].replace(year=2020).isoformat()
    await problem(client, f"/v1/artifacts/{demo[FEATURES]}", 404, as_of=before)
    bad_digest = await problem(client, "/v1/artifacts", 422, digest="md5:abc")
    assert bad_digest["errors"][0]["location"] == "query.digest"
    bad_cursor = await problem(client, "/v1/artifacts", 400, cursor="not-a-cursor")
    assert bad_cursor["type"] == "/problems/invalid-cursor"


async def test_runs_and_a_runs_inputs_and_outputs(client: httpx.AsyncClient, demo: DemoGraph) -> None:
    runs = await every_page(client, "/v1/runs", limit=3)
    assert [r["run_id"] for r in runs] == [FEATURE_RUN, TRAIN_1, TRAIN_2, DEPLOY]
    training = await ok(client, "/v1/runs", job_namespace="ml", job_name="train")
    assert [(r["node"], r["job"]) for r in training["items"]] == [
        (f"run:{TRAIN_1}", {"namespace": "ml", "name": "train"}),
        (f"run:{TRAIN_2}", {"namespace": "ml", "name": "train"}),
    ]
    io = await ok(client, f"/v1/runs/{TRAIN_2}/lineage")
    assert io["run"]["run_id"] == TRAIN_2
    assert [i["artifact"]["name"] for i in io["inputs"]] == ["features", "ckpt-1"]
    assert [o["artifact"]["name"] for o in io["outputs"]] == ["ckpt-2", "model-2"]
    recorded = io["inputs"][0]["recorded"]
    assert recorded["evidence"] == f"/v1/events/{recorded['event_id']}/evidence"
    paged, cursor = [], None
    while True:
        page = await ok(
            client, f"/v1/runs/{TRAIN_2}/lineage", limit=1, **({"cursor": cursor} if cursor else {})
        )
        paged += [("in", i["artifact"]["name"]) for i in page["inputs"]]
        paged += [("out", o["artifact"]["name"]) for o in page["outputs"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert paged == [("in", "features"), ("in", "ckpt-1"), ("out", "ckpt-2"), ("out", "model-2")]
    assert "no run" in (await problem(client, f"/v1/runs/{UNKNOWN_RUN}/lineage", 404))["detail"]
    await problem(client, "/v1/runs/NOT-A-UUID/lineage", 422)
    early = await problem(client, f"/v1/runs/{TRAIN_2}/lineage", 404, as_of=demo.sealed[1].isoformat())
    assert "as of" in early["detail"]


async def test_lineage_graph_upstream_with_cap_and_errors(client: httpx.AsyncClient, demo: DemoGraph) -> None:
    endpoint = f"artifact:{demo[ENDPOINT]}"
    graph = await ok(client, "/v1/lineage", node=endpoint, direction="upstream", depth=3)
    assert (graph["roots"], graph["direction"], graph["depth"], graph["max_nodes"]) == (
        [endpoint], "upstream", 3, 500
    )  # fmt: skip
    assert (graph["truncated"], graph["truncation"], graph["as_of"]) == (False, None, None)
    assert {(n["id"], n["depth"]) for n in graph["nodes"]} == {
        (endpoint, 0), (f"run:{DEPLOY}", 1), (f"artifact:{demo[MODEL_2]}", 2), (f"run:{TRAIN_2}", 3),
        (f"artifact:{demo[CKPT_2]}", 3),
    }  # fmt: skip
    assert {(e["relation"], e["source"], e["target"]) for e in graph["edges"]} == {
        ("generated", f"run:{DEPLOY}", endpoint),
        ("used", f"artifact:{demo[MODEL_2]}", f"run:{DEPLOY}"),
        ("generated", f"run:{TRAIN_2}", f"artifact:{demo[MODEL_2]}"),
        ("derived_from", f"artifact:{demo[CKPT_2]}", f"artifact:{demo[MODEL_2]}"),
        ("generated", f"run:{TRAIN_2}", f"artifact:{demo[CKPT_2]}"),
    }
    deploy = next(n for n in graph["nodes"] if n["type"] == "run")
    assert (deploy["run"]["job"], deploy["artifact"]) == ({"namespace": "serving", "name": "deploy"}, None)
    capped = await ok(
        client, "/v1/lineage", node=f"artifact:{demo[RAW]}", direction="downstream", max_nodes=2
    )
    assert capped["truncated"] is True
    assert "max_nodes 2" in capped["truncation"]
    assert len(capped["nodes"]) == 2
    then = await ok(client, "/v1/lineage", node=f"artifact:{demo[RAW]}", as_of=demo.sealed[0].isoformat())
    assert len(then["nodes"]) == 3
    invalid = await problem(client, "/v1/lineage", 400, node="model:7")
    assert invalid["type"] == "/problems/invalid-node"
    assert "artifact:<artifact id>" in invalid["detail"]
    too_deep = await problem(client, "/v1/lineage", 422, node=endpoint, depth=21)
    assert too_deep["errors"][0]["location"] == "query.depth"
    assert "20" in too_deep["errors"][0]["detail"]
    await problem(client, "/v1/lineage", 422, node=endpoint, max_nodes=5001)
    await problem(client, "/v1/lineage", 422, node=endpoint, as_of="2026-01-01T00:00:00")  # no offset
    await problem(client, "/v1/lineage", 404, node=f"run:{UNKNOWN_RUN}")
    await problem(client, "/v1/lineage", 404, node="artifact:999999")


async def test_reads_need_a_token_unless_public(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.settings = load(ApiSettings, public_reads=False)
    for path, params in (("/v1/artifacts", {}), ("/v1/lineage", {"node": "artifact:1"})):
        body = await problem(client, path, 401, **params)
        assert "read" in body["detail"]


def test_openapi_documents_the_bounds() -> None:
    app = FastAPI()
    app.include_router(router)
    document = app.openapi()
    params = {p["name"]: p["schema"] for p in document["paths"]["/v1/lineage"]["get"]["parameters"]}
    assert (params["depth"]["maximum"], params["depth"]["default"]) == (20, 5)
    assert (params["max_nodes"]["maximum"], params["max_nodes"]["default"]) == (5000, 500)
    assert "LineageGraphOut" in document["components"]["schemas"]
