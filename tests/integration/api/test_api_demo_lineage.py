"""The API's lineage answers match the graph `provledger demo` is known to write, sent through Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from tests.helpers.api_harness import api_settings, client_for, seal

from provledger.config import KafkaSettings
from provledger.demo.story import (
    DEMO_MODEL,
    DEMO_MODEL_UPSTREAM,
    FL_GLOBAL_NEXT,
    FL_GLOBAL_NEXT_UPSTREAM,
)
from provledger.demo.workload import run_demo
from provledger.emit import SyncEmitter
from provledger.events import ArtifactRef, Event, decode_record


async def _all_events(kafka: KafkaSettings) -> list[Event]:
    """Every event on the events topic, partition by partition, up to the end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        partitions = [
            TopicPartition(kafka.topic_events, p) for p in consumer.partitions_for_topic(kafka.topic_events)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        events: list[Event] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    events += decode_record(record.value)
        return events
    finally:
        await consumer.stop()


def _key(artifact: ArtifactRef | dict[str, Any]) -> tuple[str, str, str]:
    if isinstance(artifact, ArtifactRef):
        return (artifact.namespace, artifact.name, artifact.digest)
    return (artifact["namespace"], artifact["name"], artifact["digest"])


async def _upstream(api: httpx.AsyncClient, artifact: ArtifactRef) -> set[tuple[str, str, str]]:
    found = (await api.get("/v1/artifacts", params={"digest": artifact.digest})).json()["items"]
    [root] = [a for a in found if _key(a) == _key(artifact)]
    response = await api.get(
        "/v1/lineage", params={"node": root["node"], "direction": "upstream", "depth": 20}
    )
    graph = response.json()
    assert response.status_code == 200, graph
    assert not graph["truncated"], graph
    return {_key(n["artifact"]) for n in graph["nodes"] if n["type"] == "artifact"} - {_key(artifact)}


async def test_demo_lineage_through_kafka_and_the_api(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    def play() -> None:
        with SyncEmitter(kafka_settings) as emitter:
            run_demo(emitter, duration_s=0.5, inference_rate=20, say=lambda _: None)

    await asyncio.to_thread(play)
    events = await _all_events(kafka_settings)
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events, block_size=64)
    finally:
        await conn.close()
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens.jsonl", public_reads=True)
    async with client_for(settings) as api:
        assert await _upstream(api, DEMO_MODEL) == {_key(a) for a in DEMO_MODEL_UPSTREAM}
        assert await _upstream(api, FL_GLOBAL_NEXT) == {_key(a) for a in FL_GLOBAL_NEXT_UPSTREAM}
        marquez = await api.get(
            "/api/v1/lineage",
            params={"nodeId": f"dataset:{DEMO_MODEL.namespace}:{DEMO_MODEL.name}", "depth": 9},
        )
        assert marquez.status_code == 200, marquez.text
        datasets = {n["id"] for n in marquez.json()["graph"] if n["type"] == "DATASET"}
        assert {f"dataset:{a.namespace}:{a.name}" for a in DEMO_MODEL_UPSTREAM} <= datasets
