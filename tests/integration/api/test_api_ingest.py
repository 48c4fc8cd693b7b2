"""OpenLineage ingest: the OpenLineage client's own HTTP transport posts RunEvents that get sealed."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from openlineage.client.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpCompression, HttpConfig, HttpTransport
from tests.helpers.api_harness import (
    KEY,
    LOG_ORIGIN,
    api_settings,
    assert_problem,
    client_for,
    make_tokens,
    openlineage_consumer,
)

from provledger.api.app import create_app
from provledger.api.ingest import BATCH_PATH, INGEST_PATH
from provledger.api.server import BackgroundApi
from provledger.api.tokens import create_token, parse_namespaces, parse_scopes
from provledger.config import KafkaSettings
from provledger.events.canonical import decode_canonical
from provledger.events.openlineage import SUBMITTER_ATTRIBUTE as SUBMITTER
from provledger.ledger.evidence import Evidence, verify_evidence
from provledger.ledger.keys import KeySet
from provledger.local.process import free_port
from provledger.sealer.core import Sealer, SealerOptions
from provledger.sealer.intake import Rejected, SourceRecord
from provledger.sealer.pgstore import PoolShardStore
from provledger.store.db import create_pool
from provledger.store.keys import register_key


class _NoDeadLetters:
    def __init__(self) -> None:
        self.rejected: list[Rejected] = []

    async def send(self, rejected: Any) -> None:
        self.rejected += rejected


def _run_event(state: RunState, run_id: str, when: str) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=when,
        run=Run(runId=run_id),
        job=Job(namespace="vision", name="train-resnet"),
        producer="https://provledger.test/openlineage-client",
        inputs=[InputDataset(namespace="s3://lake", name="imagenet")],
        outputs=[OutputDataset(namespace="models", name="resnet50")] if state is RunState.COMPLETE else [],
    )


async def _consume(kafka: KafkaSettings, count: int) -> list[SourceRecord]:
    records: list[SourceRecord] = []
    async with openlineage_consumer(kafka) as consumer, asyncio.timeout(30):
        while len(records) < count:
            for tp_records in (await consumer.getmany(timeout_ms=500)).values():
                records += [
                    SourceRecord(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value)
                    for m in tp_records
                ]
    return records


async def _seal(database_url: str, kafka: KafkaSettings, records: list[SourceRecord]) -> None:
    """Seal ``records`` as the sealer would, from the bytes the API published."""
    pool = await create_pool(database_url)
    try:
        async with pool.acquire() as conn:
            await register_key(conn, KEY.verifier, 0)
        options = SealerOptions(LOG_ORIGIN, kafka.topic_openlineage, 1 << 20)
        dead = _NoDeadLetters()

        async def no_seek(topic: str, partition: int, offset: int) -> None:
            raise AssertionError("no seek expected")

        await Sealer(PoolShardStore(pool), KEY, options, dead, no_seek).handle(records)
        assert dead.rejected == []
    finally:
        await pool.close()


async def test_the_openlineage_http_transport_posts_events_that_get_sealed(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", api_port=0)
    server = await asyncio.to_thread(BackgroundApi, settings)
    run_id = str(uuid.uuid4())
    try:
        transport = HttpTransport(
            HttpConfig(url=server.url, auth=ApiKeyTokenProvider({"api_key": tokens.emit}),
                       compression=HttpCompression.GZIP, timeout=10.0)
        )  # fmt: skip
        client = OpenLineageClient(transport=transport)
        await asyncio.to_thread(
            client.emit, _run_event(RunState.START, run_id, "2026-11-24T10:00:00.000000+00:00")
        )
        await asyncio.to_thread(
            client.emit, _run_event(RunState.COMPLETE, run_id, "2026-11-24T10:05:00.123456+00:00")
        )
    finally:
        await asyncio.to_thread(server.stop)

    records = await _consume(kafka_settings, 2)
    assert {r.key for r in records} == {run_id.encode()}
    await _seal(database_url, kafka_settings, records)

    async with client_for(settings, tokens.read) as api:
        run = (await api.get(f"/v1/runs/{run_id}")).json()
        assert [e["event_type"] for e in run["events"]] == ["START", "COMPLETE"]
        complete = (await api.get(f"/v1/events/{run['events'][1]['event_id']}")).json()
        assert complete["openlineage"]["eventType"] == "COMPLETE"
        assert complete["outputs"][0]["name"] == "resnet50"
        assert complete["attributes"] == {SUBMITTER: "emitter"}
        bundle = (await api.get(f"/v1/events/{complete['event_id']}/evidence")).json()
        assert verify_evidence(
            Evidence.from_json(bundle), KeySet.of([KEY.verifier]), log_origin=LOG_ORIGIN
        ).ok


def _valid(run_id: str, state: str = "START") -> dict[str, Any]:
    return {
        "eventType": state, "eventTime": datetime.now(UTC).isoformat(), "producer": "https://provledger.test/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id}, "job": {"namespace": "n", "name": "j"}, "inputs": [], "outputs": [],
    }  # fmt: skip


async def _post(api: httpx.AsyncClient, body: bytes, encoding: str) -> httpx.Response:
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
    return await api.post("/api/v1/lineage", content=body, headers=headers)


async def test_ingest_answers_with_ids_and_refuses_invalid_events_with_reasons(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", max_ingest_bytes=4096)
    run_id = str(uuid.uuid4())
    async with client_for(settings, tokens.emit) as api:
        batch = [_valid(run_id), _valid(run_id, "COMPLETE")]
        created = await api.post("/api/v1/lineage/batch", json={"events": batch})
        assert created.status_code == 201, created.text
        assert [a["event_type"] for a in created.json()["accepted"]] == ["START", "COMPLETE"]
        again = await _post(api, gzip.compress(json.dumps(batch[0]).encode()), "gzip")
        assert again.status_code == 201
        assert again.json()["accepted"][0]["event_id"] == created.json()["accepted"][0]["event_id"]

        broken = [_valid(run_id), {**_valid(run_id), "eventTime": "yesterday"}, _valid("not-a-uuid")]
        problem = assert_problem(
            await api.post("/api/v1/lineage/batch", json=broken), 400, "invalid-run-events"
        )
        assert [(e["location"], e["reason"]) for e in problem["errors"]] == [
            ("events[1]", "bad_event_time"), ("events[2]", "bad_run_id")
        ]  # fmt: skip
        assert_problem(await api.post("/api/v1/lineage", content=b"{nope"), 400, "malformed-json")
        assert_problem(await _post(api, b"x", "gzip"), 400, "bad-gzip")
        assert_problem(await _post(api, b"{}", "br"), 415, "unsupported-encoding")
        assert_problem(await api.post("/api/v1/lineage", content=b" " * 5000), 413, "too-large")
        bomb = gzip.compress(b" " * 100_000)
        assert_problem(await _post(api, bomb, "gzip"), 413, "too-large")
        assert_problem(await api.post("/api/v1/lineage/batch", json=[]), 400, "not-a-batch")
    records = await _consume(kafka_settings, 3)
    assert len(records) == 3


async def test_ingest_is_documented_as_its_fastapi_endpoints_declare_it(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Plain routes ahead of FastAPI's serve ingest (its hot path); the document and metrics are unchanged."""
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    async with client_for(settings, tokens.admin) as api:
        paths = (await api.get("/openapi.json")).json()["paths"]
        assert_problem(await api.post("/api/v1/lineage", content=b"{}", headers={"Authorization": ""}), 401,
                       "unauthenticated")  # fmt: skip
        assert_problem(await api.post("/api/v1/lineage/batch", content=b"[]"), 403, "insufficient-scope")
        metrics = (await api.get("/metrics")).text
    assert 'method="POST",route="/api/v1/lineage",status="401"' in metrics, metrics
    assert 'method="POST",route="/api/v1/lineage/batch",status="403"' in metrics
    first = [getattr(route, "path", None) for route in create_app(settings).router.routes[:2]]
    assert first == [INGEST_PATH, BATCH_PATH]  # ahead of FastAPI's routes, which they would otherwise cost
    for path, operation_id in (
        ("/api/v1/lineage", "post_lineage"),
        ("/api/v1/lineage/batch", "post_lineage_batch"),
    ):
        operation = paths[path]["post"]
        assert operation["operationId"] == operation_id
        assert operation["security"] == [{"bearer": []}]
        assert {"201", "400", "401", "403", "413", "415", "503"} <= set(operation["responses"])
        assert "application/json" in operation["requestBody"]["content"]


async def test_ingest_while_the_broker_is_unreachable_is_503(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", kafka_ack_timeout_s=2.0)
    settings = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    async with client_for(settings, tokens.emit) as api:
        problem = assert_problem(
            await api.post("/api/v1/lineage", json=_valid(str(uuid.uuid4()))), 503, "unavailable"
        )
        assert "did not acknowledge" in problem["detail"]
        ready = assert_problem(await api.get("/readyz"), 503, "unavailable")
        assert "Kafka broker" in ready["detail"]


async def test_the_submitting_tokens_name_is_sealed_and_its_namespaces_bound_ingest(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Evidence names who submitted an event; a token cannot emit outside its namespaces or as another."""
    tokens_file = tmp_path / "tokens"
    tokens = make_tokens(tokens_file)
    scoped = create_token(tokens_file, parse_scopes("emit"), "etl-a", parse_namespaces("a"))
    settings = api_settings(database_url, kafka_settings, tokens_file)
    run_id = str(uuid.uuid4())
    in_a, in_b = _valid(run_id) | {"job": {"namespace": "a", "name": "j"}}, _valid(run_id)
    async with client_for(settings, scoped) as api:
        one = assert_problem(await api.post("/api/v1/lineage", json=in_b), 403, "namespace-not-allowed")
        assert "token 'etl-a' may emit only to job namespaces [a]" in one["detail"]
        assert "--namespaces" in one["detail"]
        assert [(e["location"], e["reason"]) for e in one["errors"]] == [("body", "namespace_not_allowed")]
        batch = await api.post("/api/v1/lineage/batch", json=[in_a, in_b, in_a, in_b])
        problem = assert_problem(batch, 403, "namespace-not-allowed")  # all or nothing
        assert [e["location"] for e in problem["errors"]] == ["events[1]", "events[3]"]
        assert "'n'" in problem["errors"][0]["detail"]
        forged = _valid(run_id) | {"job": {"namespace": "a", "name": "j"}}
        forged["run"] = {"runId": run_id, "facets": {"provledger_event": {"attributes": {SUBMITTER: "ops"}}}}
        refused = assert_problem(await api.post("/api/v1/lineage", json=forged), 400, "invalid-run-events")
        assert refused["errors"][0]["reason"] == "reserved_attribute"
        created = await api.post("/api/v1/lineage", json=in_a)
        assert created.status_code == 201, created.text
        event_id = created.json()["accepted"][0]["event_id"]
    async with client_for(settings, tokens.admin) as api:  # admin no longer implies emit
        denied = assert_problem(await api.post("/api/v1/lineage", json=in_a), 403, "insufficient-scope")
        assert "'emit'" in denied["detail"]

    records = await _consume(kafka_settings, 1)
    assert len(records) == 1  # only the accepted event was published
    await _seal(database_url, kafka_settings, records)
    async with client_for(settings, tokens.read) as api:
        shown = (await api.get(f"/v1/events/{event_id}")).json()
        assert shown["attributes"] == {SUBMITTER: "etl-a"}
        bundle = (await api.get(f"/v1/events/{event_id}/evidence")).json()
    evidence = Evidence.from_json(bundle)
    assert verify_evidence(evidence, KeySet.of([KEY.verifier]), log_origin=LOG_ORIGIN).ok
    sealed = decode_canonical(evidence.canonical_event)
    assert sealed.event_id == event_id
    assert dict(sealed.attributes) == {SUBMITTER: "etl-a"}
    assert sealed.job.namespace == "a"
