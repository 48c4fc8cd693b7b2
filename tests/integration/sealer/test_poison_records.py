"""Poison records: every hostile class, sent the way an attacker would, never stops the ledger.

A real ``provledger sealer`` worker and a real API (uvicorn on a port) against the session's
broker and Postgres. Each hostile input goes in through the HTTP ingest or straight into Kafka
(both ingested topics), and right behind it a good event with the same key, so on the same
partition and behind the poison in its shard's queue. Then: every hostile input was refused
with a 4xx naming its reason, or dead-lettered with its reason; every good event was sealed
within two block intervals of its arrival; the worker never restarted.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastavro import schemaless_writer
from tests.helpers.sealer_harness import SealerWorker, events_of_run, generate_key_file, read_topic

from provledger.api.server import BackgroundApi
from provledger.api.tokens import create_token, parse_scopes
from provledger.config import ApiSettings, KafkaSettings, load
from provledger.events import encode_record
from provledger.events.binary import zigzag_varint
from provledger.events.codec import MAGIC, batch_header
from provledger.events.limits import DEFAULT_MAX_RECORD_BYTES, MAX_TIME_US
from provledger.events.model import Event
from provledger.events.openlineage import RUN_EVENT_SCHEMA_URL, from_openlineage
from provledger.events.schemas import registry

#: Blocks are written at most this often; a good event must be sealed within two of them.
BLOCK_INTERVAL_MS = 1000
PRODUCER = "https://provledger.test/poison"
pytestmark = pytest.mark.slow


def _run_event(run_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": {"runId": run_id},
        "job": {"namespace": "poison", "name": "good"},
        "inputs": [{"namespace": "s3://lake", "name": "raw"}],
        "outputs": [],
    }
    document.update(changes)
    return document


def _native(event: Event, **changes: Any) -> bytes:
    """``event`` as a record, with fields changed behind the model's checks (fastavro's writer)."""
    record = event.to_avro() | changes
    body = io.BytesIO()
    schemaless_writer(body, registry().current.batch, {"events": [record]})
    return batch_header() + body.getvalue()


def _attribute_bomb(event: Event) -> bytes:
    """Just under a megabyte of empty attributes: two bytes each, half a million of them."""
    marker = "\u2603bomb"
    value = _native(event, attributes=[{"key": marker, "value": ""}])
    one = b"\x02" + bytes([len(marker.encode()) * 2]) + marker.encode() + b"\x00\x00"
    count = 499_000
    bomb = zigzag_varint(count) + b"\x00\x00" * count + b"\x00"
    assert value.count(one) == 1
    return value.replace(one, bomb)


@dataclass
class Ledger:
    """What the test sent and what it expects of each input."""

    bootstrap: str
    kafka: KafkaSettings
    good: dict[str, float] = field(default_factory=dict)  # event id -> when it arrived (broker ack)
    dead_letters: dict[str, str] = field(default_factory=dict)  # "topic/partition/offset" -> reason
    refusals: list[tuple[str, int, str]] = field(default_factory=list)  # (class, status, body)

    async def produce(self, topic: str, key: bytes, value: bytes | None) -> str:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", max_request_size=DEFAULT_MAX_RECORD_BYTES * 4
        )
        await producer.start()
        try:
            sent = await (await producer.send(topic, value, key=key))
        finally:
            await producer.stop()
        return f"{sent.topic}/{sent.partition}/{sent.offset}"

    async def poison(self, topic: str, key: bytes, value: bytes | None, reason: str) -> None:
        self.dead_letters[await self.produce(topic, key, value)] = reason

    async def good_native(self, run_id: str) -> None:
        (event,) = events_of_run(1, run_id=run_id, job="good")
        await self.produce(self.kafka.topic_events, run_id.encode(), encode_record([event]))
        self.good[event.event_id] = time.time()

    async def good_openlineage(self, run_id: str) -> None:
        value = json.dumps(_run_event(run_id)).encode()
        await self.produce(self.kafka.topic_openlineage, run_id.encode(), value)
        self.good[from_openlineage(value).event_id] = time.time()


@pytest.fixture
async def api(
    tmp_path: Path, database_url: str, kafka_settings: KafkaSettings
) -> AsyncIterator[httpx.AsyncClient]:
    tokens = tmp_path / "tokens.jsonl"
    token = create_token(tokens, parse_scopes("emit,read"), "poison-test")
    settings = load(
        ApiSettings,
        database_url=database_url,
        kafka_bootstrap=kafka_settings.kafka_bootstrap,
        topic_openlineage=kafka_settings.topic_openlineage,
        tokens_file=tokens,
        api_port=0,
    )
    server = await asyncio.to_thread(BackgroundApi, settings)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
            yield client
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def worker(
    tmp_path: Path, database_url: str, kafka_settings: KafkaSettings
) -> AsyncIterator[SealerWorker]:
    sealer = SealerWorker(
        database_url=database_url,
        kafka=kafka_settings,
        key_file=generate_key_file(tmp_path),
        log_path=tmp_path / "sealer.log",
        group=f"g{uuid.uuid4().hex[:8]}",
        block_interval_ms=str(BLOCK_INTERVAL_MS),
    ).start()
    try:
        await sealer.wait_ready()
        yield sealer
    finally:
        sealer.stop()


def _gzip_then(tail: bytes, document: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(document).encode()) + tail


HttpPoison = Callable[[httpx.AsyncClient, str], Any]

# Each hostile request, the status it must get, and how the refusal must name its reason.
HTTP_POISON: dict[str, tuple[HttpPoison, int, str]] = {
    "event time past 9999 in UTC": (
        lambda c, run: c.post("/api/v1/lineage", json=_run_event(run, eventTime="9999-12-31T23:59:59-23:59")),
        400,
        "bad_event_time",
    ),
    "NUL in the job namespace": (
        lambda c, run: c.post(
            "/api/v1/lineage", json=_run_event(run, job={"namespace": "a\x00b", "name": "j"})
        ),
        400,
        "bad_text",
    ),
    "lone surrogate in a facet key": (
        lambda c, run: c.post(
            "/api/v1/lineage",
            content=json.dumps(_run_event(run)).replace('"run": {', '"run": {"facets": {"\\ud800": {}}, ', 1),
            headers={"Content-Type": "application/json"},
        ),
        400,
        "bad_text",
    ),
    "gzip followed by garbage": (
        lambda c, run: c.post(
            "/api/v1/lineage",
            content=_gzip_then(b"garbage", _run_event(run)),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ),
        400,
        "gzip",
    ),
    "two gzip members": (
        lambda c, run: c.post(
            "/api/v1/lineage",
            content=_gzip_then(gzip.compress(b"{}"), _run_event(run)),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ),
        400,
        "gzip",
    ),
    "gzip bomb": (
        lambda c, run: c.post(
            "/api/v1/lineage",
            content=gzip.compress(b" " * (64 << 20)),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ),
        413,
        "",
    ),
    "structure bomb": (
        lambda c, run: c.post(
            "/api/v1/lineage/batch",
            content=b"[" + b"{}," * 3_000_000 + b"{}]",
            headers={"Content-Type": "application/json"},
        ),
        413,
        "",
    ),
    "out-of-range cursor": (
        lambda c, run: c.get("/v1/runs", params={"cursor": "WzkwMDAwMDAwMDAwMDAwMDAwMDAsImEiXQ"}),
        400,
        "cursor",
    ),
}


async def test_no_hostile_input_stops_the_ledger(
    api: httpx.AsyncClient, worker: SealerWorker, database_url: str, kafka_settings: KafkaSettings
) -> None:
    ledger = Ledger(kafka_settings.require_kafka_bootstrap(), kafka_settings)
    events, openlineage = kafka_settings.topic_events, kafka_settings.topic_openlineage

    for name, (send, status, reason) in HTTP_POISON.items():
        run_id = str(uuid.uuid4())
        response = await send(api, run_id)
        ledger.refusals.append((name, response.status_code, response.text))
        assert response.status_code == status, f"{name}: {response.status_code} {response.text[:300]}"
        assert reason in response.text, f"{name}: the refusal does not say {reason!r}: {response.text[:300]}"
        good = await api.post("/api/v1/lineage", json=_run_event(run_id))
        assert good.status_code == 201, good.text
        ledger.good[good.json()["accepted"][0]["event_id"]] = time.time()

    native: dict[str, tuple[Callable[[Event], bytes | None], str]] = {
        "NUL in the job name": (
            lambda e: _native(e, job={"namespace": "poison", "name": "a\x00b"}),
            "bad_text",
        ),
        "event time past 9999": (lambda e: _native(e, event_time=MAX_TIME_US + 1), "bad_event_time"),
        "a megabyte of empty attributes": (_attribute_bomb, "oversized"),
        "unknown fingerprint": (lambda e: MAGIC + bytes(8) + encode_record([e])[10:], "unknown_fingerprint"),
        "garbage": (lambda e: b"\x00garbage", "not_single_object"),
        "over the record limit": (lambda e: batch_header() + bytes(DEFAULT_MAX_RECORD_BYTES), "oversized"),
        "tombstone": (lambda e: None, "empty_record"),
    }
    for name, (build, reason) in native.items():
        run_id = str(uuid.uuid4())
        (event,) = events_of_run(1, run_id=run_id, job=name)
        await ledger.poison(events, run_id.encode(), build(event), reason)
        await ledger.good_native(run_id)

    lineage: dict[str, tuple[bytes, str]] = {
        "event time past 9999": (
            json.dumps(_run_event("", eventTime="9999-12-31T23:59:59-23:59")).encode(),
            "bad_event_time",
        ),
        "NUL in the job name": (
            json.dumps(_run_event("", job={"namespace": "p", "name": "\x00"})).encode(),
            "bad_text",
        ),
        "not JSON": (b"\xff{not json", "malformed_json"),
        # Under the record limit, but 350,000 objects to parse: refused from its bytes.
        "structure bomb": (
            json.dumps(_run_event(""))
            .replace('"outputs": []', '"outputs": [], "x": [' + "{}," * 350_000 + "{}]")
            .encode(),
            "oversized",
        ),
        # Under the record limit as sent, four times over it as RFC 8785 writes 1e20.
        "numbers that grow when canonicalised": (
            json.dumps(_run_event(""))
            .replace('"outputs": []', '"outputs": [], "x": [' + "1e20," * 200_000 + "1]")
            .encode(),
            "oversized",
        ),
    }
    for _name, (template, reason) in lineage.items():
        run_id = str(uuid.uuid4())
        value = template.replace(b'"runId": ""', f'"runId": "{run_id}"'.encode())
        await ledger.poison(openlineage, run_id.encode(), value, reason)
        await ledger.good_openlineage(run_id)

    # A conflicting duplicate: a good event's id again, with another body.
    run_id = str(uuid.uuid4())
    (first,) = events_of_run(1, run_id=run_id, job="first")
    await ledger.produce(events, run_id.encode(), encode_record([first]))
    ledger.good[first.event_id] = time.time()
    (other,) = events_of_run(1, run_id=run_id, job="conflicting")
    await ledger.poison(
        events, run_id.encode(), _native(other, event_id=first.event_id), "conflicting_duplicate"
    )
    await ledger.good_native(run_id)

    sealed = await _wait_sealed(database_url, set(ledger.good), timeout_s=60)
    assert set(sealed) == set(ledger.good), f"never sealed: {set(ledger.good) - set(sealed)}\n{worker.log()}"
    late = {
        event_id: round(sealed[event_id] - arrived, 3)
        for event_id, arrived in ledger.good.items()
        if sealed[event_id] - arrived > 2 * BLOCK_INTERVAL_MS / 1000
    }
    assert not late, f"good events sealed later than two block intervals after arriving (s): {late}"

    letters = await read_topic(ledger.bootstrap, kafka_settings.topic_dead_letter, len(ledger.dead_letters))
    reasons = {
        dict(r.headers)["provledger-source"].decode(): dict(r.headers)["provledger-reason"].decode()  # type: ignore[attr-defined]
        for r in letters
    }
    assert reasons == ledger.dead_letters
    assert worker.process is not None
    assert worker.process.exit_code() is None, worker.log()
    log = worker.log()
    for sign in ("Traceback", "agent stops", "crashed"):
        assert sign not in log, log


async def _wait_sealed(database_url: str, event_ids: set[str], timeout_s: float) -> dict[str, float]:
    """When each of ``event_ids`` was sealed (its block's ``sealed_at``, Unix seconds)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await conn.fetch(
                "SELECT e.event_id::text AS id, extract(epoch FROM b.sealed_at)::float8 AS sealed "
                "FROM events e JOIN blocks b USING (shard, height) WHERE e.event_id = ANY($1::uuid[])",
                list(event_ids),
            )
            if len(rows) == len(event_ids) or time.monotonic() > deadline:
                return {row["id"]: row["sealed"] for row in rows}
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
