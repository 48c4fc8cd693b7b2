"""Health, readiness and metrics; a slow or stopped database gives 503 with the reason, never a hang."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
from tests.helpers.api_harness import api_settings, assert_problem, client_for, events, make_tokens, seal

from provledger.config import KafkaSettings
from provledger.local.postgres import EmbeddedPostgres
from provledger.store.migrate import migrate_database


async def test_health_readiness_and_metrics(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    async with client_for(
        api_settings(database_url, kafka_settings, tmp_path / "tokens"), tokens.admin
    ) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        await client.get("/v1/shards/0")
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert (
            'provledger_api_request_seconds_count{method="GET",route="/v1/shards/{shard}",status="404"} 1.0'
            in (metrics.text)
        )


async def test_a_query_slower_than_the_statement_timeout_is_503(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(5), block_size=5)
        tokens = make_tokens(tmp_path / "tokens")
        settings = api_settings(
            database_url, kafka_settings, tmp_path / "tokens", db_statement_timeout_ms=300
        )
        async with client_for(settings, tokens.read) as client:
            async with conn.transaction():
                await conn.execute("LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE")  # every shard read now waits
                started = time.monotonic()
                response = await client.get("/v1/shards")
                elapsed = time.monotonic() - started
            body = assert_problem(response, 503, "unavailable")
            assert "statement timeout" in body["detail"]
            assert response.headers["retry-after"] == "2"
            assert elapsed < 5
            assert (await client.get("/v1/shards")).status_code == 200  # the pool recovered
    finally:
        await conn.close()


async def test_a_stopped_database_is_503_with_the_reason(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg", tmp_path / "pg.log", durable=False)
    await asyncio.to_thread(postgres.start)
    try:
        await migrate_database(postgres.database_url)
        tokens = make_tokens(tmp_path / "tokens")
        settings = api_settings(
            postgres.database_url, kafka_settings, tmp_path / "tokens", db_connect_timeout_s=2.0
        )
        async with client_for(settings, tokens.read) as client:
            assert (await client.get("/v1/shards")).status_code == 200
            await asyncio.to_thread(postgres.stop)
            started = time.monotonic()
            for path in (
                "/v1/shards",
                "/v1/shards",
                "/tlog/0/checkpoint",
            ):  # a pooled connection, then new ones
                body = assert_problem(await client.get(path), 503, "unavailable")
                assert "ledger database" in body["detail"]
            ready = assert_problem(await client.get("/readyz"), 503, "unavailable")
            assert "ledger database" in ready["detail"]
            assert time.monotonic() - started < 15
    finally:
        await asyncio.to_thread(postgres.stop)
