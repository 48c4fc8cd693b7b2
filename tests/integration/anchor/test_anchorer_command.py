"""``provledger anchorer`` as an operator runs it: configured from PROVLEDGER_* variables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import httpx
from tests.helpers.sealed_ledger import connected, register, seal_blocks

from provledger.config import KafkaSettings
from provledger.ledger.keys import SigningKey
from provledger.local.process import free_port


def _env(database_url: str, kafka: KafkaSettings, key_file: Path, port: int) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")} | {
        "PROVLEDGER_DATABASE_URL": database_url,
        "PROVLEDGER_KAFKA_BOOTSTRAP": kafka.require_kafka_bootstrap(),
        "PROVLEDGER_TOPIC_CHECKPOINTS": kafka.topic_checkpoints,
        "PROVLEDGER_ANCHORER_KEY_FILE": str(key_file),
        "PROVLEDGER_ANCHORER_KEY_NAME": "command.test/anchorer",
        "PROVLEDGER_ANCHOR_INTERVAL_S": "0.2",
        "PROVLEDGER_METRICS_PORT": str(port),
    }


def _key_file(folder: Path, key: SigningKey) -> Path:
    path = folder / "anchorer.pem"
    path.write_bytes(key.to_pem())
    return path


async def _start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "provledger", "anchorer", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def test_the_anchorer_refuses_the_sealers_key(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    sealer = SigningKey.generate("command.test/sealer")
    async with connected(database_url) as conn:
        await register(conn, sealer)
    process = await _start(_env(database_url, kafka_settings, _key_file(tmp_path, sealer), free_port()))
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2, output.decode()
    assert b"could then forge anchors" in output


async def test_the_anchorer_anchors_and_serves_its_metrics(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    sealer = SigningKey.generate("command.test/sealer")
    async with connected(database_url) as conn:
        await register(conn, sealer)
        await seal_blocks(conn, 0, [3], sealer)
    port = free_port()
    key = SigningKey.generate("command.test/anchorer")
    process = await _start(_env(database_url, kafka_settings, _key_file(tmp_path, key), port))
    try:
        deadline = time.monotonic() + 60
        metrics = ""
        async with httpx.AsyncClient(timeout=2) as client:
            while "provledger_anchor_statements_total 1.0" not in metrics:
                assert time.monotonic() < deadline, f"no statement in time; metrics:\n{metrics}"
                assert process.returncode is None, "the anchorer exited"
                with contextlib.suppress(httpx.TransportError):
                    metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                await asyncio.sleep(0.2)
            assert (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        assert "provledger_anchor_active 1.0" in metrics
        assert "provledger_anchor_fork_detected 0.0" in metrics
        async with connected(database_url) as conn:
            assert await conn.fetchval("SELECT count(*) FROM checkpoints") == 1
            assert await conn.fetchval("SELECT name FROM anchorer_keys") == "command.test/anchorer"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()
