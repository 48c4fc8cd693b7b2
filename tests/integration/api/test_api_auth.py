"""Bearer tokens and scopes: 401 and 403 as problems, public reads, tokens never in the logs."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.api_harness import api_settings, assert_problem, client_for, make_tokens

from provledger.config import KafkaSettings


async def test_scopes_are_enforced(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    caplog.set_level(logging.DEBUG)
    async with client_for(settings) as client:
        response = await client.get("/v1/shards")
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == 'Bearer scope="read"'
        bad = await client.get("/v1/shards", headers={"Authorization": "Bearer plt_forged"})
        assert_problem(bad, 401, "invalid-token")
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        for token in (tokens.read, tokens.admin):
            assert (
                await client.get("/v1/shards", headers={"Authorization": f"Bearer {token}"})
            ).status_code == 200
        wrong = await client.get("/v1/shards", headers={"Authorization": f"Bearer {tokens.emit}"})
        body = assert_problem(wrong, 403, "insufficient-scope")
        assert "emitter" in body["detail"]
        assert 'error="insufficient_scope"' in wrong.headers["www-authenticate"]
        ingest = await client.post(
            "/api/v1/lineage", json={}, headers={"Authorization": f"Bearer {tokens.read}"}
        )
        assert_problem(ingest, 403, "insufficient-scope")
        metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {tokens.read}"})
        assert_problem(metrics, 403, "insufficient-scope")
        assert (await client.get("/healthz")).status_code == 200
    logged = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    for token in (tokens.read, tokens.emit, tokens.admin):
        assert token not in logged


async def test_public_reads_need_no_token_but_ingest_still_does(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", public_reads=True)
    async with client_for(settings) as client:
        assert (await client.get("/v1/shards")).status_code == 200
        assert_problem(await client.post("/api/v1/lineage", json={}), 401, "unauthenticated")
        assert_problem(await client.get("/metrics"), 401, "unauthenticated")


def _tokens_create(path: Path, scopes: str, *more: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "provledger", "tokens", "create", "--scopes", scopes, *more]
    return subprocess.run([*argv, "--tokens-file", str(path)], capture_output=True, text=True, check=False)


async def test_tokens_create_prints_the_token_once_and_stores_its_hash(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    path = tmp_path / "secrets" / "tokens"
    created = await asyncio.to_thread(_tokens_create, path, "read,emit", "--name", "ci")
    assert created.returncode == 0, created.stderr
    assert "may emit to any job namespace" in created.stderr
    token = created.stdout.strip()
    assert token.startswith("plt_")
    stored = path.read_text()
    assert token not in stored
    assert json.loads(stored)["scopes"] == ["emit", "read"]
    assert path.stat().st_mode & 0o077 == 0
    refused = await asyncio.to_thread(_tokens_create, path, "write")
    assert refused.returncode == 2
    assert "read, emit, admin" in refused.stderr
    scoped = await asyncio.to_thread(_tokens_create, path, "emit", "--name", "etl", "--namespaces", "b,a")
    assert scoped.returncode == 0, scoped.stderr
    assert "any job namespace" not in scoped.stderr
    assert json.loads(path.read_text().splitlines()[1])["namespaces"] == ["a", "b"]
    taken = await asyncio.to_thread(_tokens_create, path, "emit", "--name", "etl")
    assert taken.returncode == 2
    assert "already has a token named 'etl'" in taken.stderr
    async with client_for(api_settings(database_url, kafka_settings, path), token) as client:
        assert (await client.get("/v1/keys")).status_code == 200
