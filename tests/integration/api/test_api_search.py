"""``GET /v1/search`` for the explorer page: its answers, bounds, hostile input and OpenAPI models."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from tests.helpers.api_harness import DATASET, api_settings, assert_problem, client_for, events, seal

from provledger.api.app import create_app
from provledger.config import KafkaSettings


async def test_search_matches_names_digests_and_run_ids_and_refuses_hostile_input(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    sealed = events(30, runs=3)
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, sealed, block_size=10)
    finally:
        await conn.close()
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", public_reads=True)
    async with client_for(settings) as api:
        named = (await api.get("/v1/search", params={"q": "m1", "limit": 100})).json()
        names = [r["name"] for r in named["results"] if r["type"] == "artifact"]
        assert names == ["m1", *sorted(f"m1{i}" for i in range(10))]  # prefix, in name order
        assert named["truncated"] is False
        first = named["results"][0]
        assert set(first) == {"type", "id", "namespace", "name", "kind", "digest"}
        assert (first["namespace"], first["kind"], first["digest"]) == (
            "models",
            "model",
            "sha256:" + f"{1:064x}",
        )

        part = (await api.get("/v1/search", params={"q": "AGENE"})).json()["results"]
        assert [(r["type"], r["name"], r["digest"]) for r in part] == [
            ("artifact", "imagenet", DATASET.digest)
        ]
        jobs = (await api.get("/v1/search", params={"q": "rai"})).json()["results"]
        assert [(r["type"], r["namespace"], r["name"], r["kind"]) for r in jobs] == [
            ("job", "vision", "train", None)
        ]
        run_id = sealed[0].run.run_id
        runs = (await api.get("/v1/search", params={"q": run_id[:13]})).json()["results"]
        assert {"type": "run", "id": run_id, "namespace": "vision", "name": "train", "kind": None,
                "digest": None} in runs  # fmt: skip
        digest = (await api.get("/v1/search", params={"q": DATASET.digest[7:20]})).json()["results"]
        assert digest[0]["digest"] == DATASET.digest
        few = (await api.get("/v1/search", params={"q": "m", "limit": 3})).json()
        assert len(few["results"]) == 3
        assert few["truncated"] is True

        hostile: list[dict[str, str | int]] = [{}, {"q": ""}, {"q": "a" * 257}, {"q": "a\x00"},
            {"q": "m", "limit": 0}, {"q": "m", "limit": 101}, {"q": "m", "limit": "9" * 40}]  # fmt: skip
        for params in hostile:
            assert_problem(await api.get("/v1/search", params=params), 422, "invalid-parameters")


def test_openapi_documents_the_search_answer(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    document = create_app(
        api_settings("postgresql://x@127.0.0.1/x", kafka_settings, tmp_path / "t")
    ).openapi()
    schemas = document["components"]["schemas"]
    assert set(schemas["SearchResults"]["properties"]) == {"results", "truncated"}
    assert set(schemas["SearchResult"]["properties"]) == {"type", "id", "namespace", "name", "kind", "digest"}
    assert schemas["SearchResult"]["properties"]["type"]["enum"] == ["artifact", "run", "job"]
    assert "/v1/search" in document["paths"]
