"""What the API tests share: sealed events written for real, and the app with a client.

Events are real provledger events (so their canonical bytes decode), sealed into signed blocks
with the sealer's own :class:`ShardLog` and written with ``write_block``, as the sealer does.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from provledger.api.app import create_app
from provledger.api.tokens import create_token, parse_scopes
from provledger.config import ApiSettings, KafkaSettings, load
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.ledger.block import BlockHeader
from provledger.ledger.keys import SigningKey
from provledger.local.process import ManagedProcess, free_port
from provledger.sealer.intake import accept
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block
from provledger.store.keys import register_key
from tests.helpers.processes import wait_until_ok

LOG_ORIGIN = "api.test/ledger"
KEY = SigningKey.generate(LOG_ORIGIN)
PRODUCER = "https://provledger.test/api-tests"
DATASET = ArtifactRef("s3://lake", "imagenet", "sha256:" + "ab" * 32, "dataset")


def events(count: int, runs: int = 3) -> list[Event]:
    """``count`` events spread over ``runs`` runs, each recording a distinct model output."""
    run_ids = [str(uuid.uuid4()) for _ in range(runs)]
    return [
        Event.new(
            EventType.COMPLETE,
            job=Job("vision", "train"),
            run=Run(run_ids[i % runs]),
            producer=PRODUCER,
            inputs=[DATASET],
            outputs=[ArtifactRef("models", f"m{i}", "sha256:" + f"{i:064x}", "model")],
            attributes={"i": str(i)},
        )
        for i in range(count)
    ]


async def seal(
    conn: asyncpg.Connection,
    batch: Sequence[Event],
    *,
    block_size: int,
    topic: str = "provledger.events",
    partition: int = 0,
    key: SigningKey = KEY,
) -> list[BlockHeader]:
    """Seal ``batch`` into blocks of ``block_size`` events on one shard, continuing its log."""
    await register_key(conn, key.verifier, 0)
    shard = await ensure_shard(conn, topic, partition)
    log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
    headers = []
    for start in range(0, len(batch), block_size):
        first = log.next_offset
        accepted = [accept(event, first + i) for i, event in enumerate(batch[start : start + block_size])]
        block = log.seal(accepted, first, first + len(accepted) - 1, key, time.time_ns() // 1000)
        await write_block(conn, block, first)
        headers.append(block.header)
    return headers


@dataclass(frozen=True)
class Tokens:
    read: str
    emit: str
    admin: str

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def make_tokens(path: Path) -> Tokens:
    return Tokens(
        read=create_token(path, parse_scopes("read"), "reader"),
        emit=create_token(path, parse_scopes("emit"), "emitter"),
        admin=create_token(path, parse_scopes("admin"), "operator"),
    )


def api_settings(database_url: str, kafka: KafkaSettings, tokens_file: Path, **overrides: Any) -> ApiSettings:
    return load(
        ApiSettings,
        database_url=database_url,
        kafka_bootstrap=kafka.kafka_bootstrap,
        topic_openlineage=kafka.topic_openlineage,
        log_origin=LOG_ORIGIN,
        tokens_file=tokens_file,
        **overrides,
    )


@asynccontextmanager
async def running(app: FastAPI, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, and an HTTP client calling it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as client:
            yield client


@asynccontextmanager
async def client_for(settings: ApiSettings, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings), Tokens.bearer(token) if token else None) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of ``status`` and type ``/problems/<slug>``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["detail"]
    assert body["title"]
    return body


@asynccontextmanager
async def openlineage_consumer(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of the OpenLineage topic from its first record, outside any group."""
    consumer = AIOKafkaConsumer(
        kafka.topic_openlineage, bootstrap_servers=kafka.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class ApiProcess:
    """``provledger api`` in a process of its own, so a test measures its memory and latency alone."""

    process: ManagedProcess
    url: str
    tokens: Tokens

    def client(self, token: str | None = None, timeout_s: float = 60) -> httpx.AsyncClient:
        """An HTTP client of this API, sending ``token`` if given."""
        return httpx.AsyncClient(
            base_url=self.url, headers=Tokens.bearer(token) if token else None, timeout=timeout_s
        )

    async def _wait_ready(self, timeout_s: float = 30.0) -> None:
        await wait_until_ok(self.process, f"{self.url}/healthz", timeout_s=timeout_s, poll_s=0.1)


@asynccontextmanager
async def api_process(
    database_url: str, kafka: KafkaSettings, tmp_path: Path, **settings: str
) -> AsyncIterator[ApiProcess]:
    """``provledger api`` on a free port with ``settings`` (as PROVLEDGER_* values), answering /healthz."""
    port = free_port()
    tokens = make_tokens(tmp_path / "tokens")
    env = {
        "PATH": "/usr/bin:/bin",
        "PROVLEDGER_DATABASE_URL": database_url,
        "PROVLEDGER_KAFKA_BOOTSTRAP": kafka.require_kafka_bootstrap(),
        "PROVLEDGER_TOPIC_OPENLINEAGE": kafka.topic_openlineage,
        "PROVLEDGER_LOG_ORIGIN": LOG_ORIGIN,
        "PROVLEDGER_TOKENS_FILE": str(tmp_path / "tokens"),
        "PROVLEDGER_API_PORT": str(port),
    } | {f"PROVLEDGER_{name.upper()}": value for name, value in settings.items()}
    process = ManagedProcess(
        "api", [sys.executable, "-m", "provledger", "api"], tmp_path / "api.log", env=env
    )
    try:
        api = ApiProcess(process, f"http://127.0.0.1:{port}", tokens)
        await api._wait_ready()
        yield api
    finally:
        process.stop()
