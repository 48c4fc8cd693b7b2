"""The sealer and its key, against real Postgres and the broker: no implicit rotation, no late signature.

A key not registered by ``provledger keys rotate`` is refused at start; a rotation made while an
old sealer still runs stops that sealer at its key's end, every block stays verifiable under the
ledger's key set and a sealer of the new key seals the rest; a sealer of another log origin
refuses to extend the database's shards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from tests.helpers.sealed_ledger import LOG_ORIGIN, register, seal_blocks
from tests.helpers.sealer_harness import (
    SealerWorker,
    Sent,
    check_ledger,
    events_of_run,
    generate_key_file,
    produce_batches,
    wait_sealed,
)

from provledger.config import KafkaSettings
from provledger.keyfiles import load_signing_key
from provledger.ledger.block import BlockHeader

#: The key name the harness's workers sign with (PROVLEDGER_SIGNING_KEY_NAME's default).
KEY_NAME = "provledger"


def _run_sealer(worker: SealerWorker) -> subprocess.CompletedProcess[str]:
    """``provledger sealer`` in the foreground with the worker's settings, its key not registered."""
    return subprocess.run(
        [sys.executable, "-m", "provledger", "sealer"],
        env=worker.env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


async def test_a_key_not_registered_is_refused_at_start_naming_keys_rotate(worker: SealerWorker) -> None:
    result = await asyncio.to_thread(_run_sealer, worker)
    assert result.returncode == 2, result.stderr
    assert "is not registered" in result.stderr
    assert "provledger keys rotate" in result.stderr


async def test_a_sealer_of_another_origin_refuses_to_extend_the_shards(
    worker: SealerWorker, database_url: str
) -> None:
    key = load_signing_key(Path(worker.env["PROVLEDGER_SIGNING_KEY_FILE"]), KEY_NAME)
    conn = await asyncpg.connect(database_url)
    try:
        await register(conn, key)
        await seal_blocks(conn, 0, [3, 2], key)  # shard 0 of the log LOG_ORIGIN
    finally:
        await conn.close()
    worker.env["PROVLEDGER_LOG_ORIGIN"] = "another.example/ledger"
    result = await asyncio.to_thread(_run_sealer, worker)
    assert result.returncode == 2, result.stderr
    assert repr(LOG_ORIGIN) in result.stderr
    assert "'another.example/ledger'" in result.stderr
    assert "PROVLEDGER_LOG_ORIGIN" in result.stderr


def _rotate(database_url: str, key_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "provledger", "keys", "rotate", "--key-file", str(key_file), "--now"],
        env=env | {"PROVLEDGER_DATABASE_URL": database_url, "PROVLEDGER_SIGNING_KEY_NAME": KEY_NAME},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def _rotate_now(database_url: str, key_file: Path) -> None:
    """``provledger keys rotate --now``, again if a block of the running sealer landed at the point."""
    for _ in range(5):
        result = await asyncio.to_thread(_rotate, database_url, key_file)
        if result.returncode == 0:
            return
        assert "not before the rotation point" in result.stderr, result.stderr
    raise AssertionError(f"the rotation never went through: {result.stderr}")


async def _wait_exit(worker: SealerWorker, timeout_s: float) -> int:
    assert worker.process is not None
    for _ in range(int(timeout_s / 0.2)):
        code = worker.process.exit_code()
        if code is not None:
            return code
        await asyncio.sleep(0.2)
    raise AssertionError(f"the old sealer still runs after its key was retired:\n{worker.log()}")


async def test_a_rotation_stops_the_old_sealer_at_its_keys_end_and_every_block_verifies(
    worker: SealerWorker, tmp_path: Path, database_url: str, kafka_settings: KafkaSettings
) -> None:
    bootstrap, topic = kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events
    worker.start()  # registers its key, as `provledger up` does
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    new_key_file = generate_key_file(new_dir)
    successor = SealerWorker(
        database_url=database_url, kafka=kafka_settings, key_file=new_key_file,
        log_path=new_dir / "sealer.log", group=worker.env["PROVLEDGER_CONSUMER_GROUP"],
    )  # fmt: skip
    try:
        await worker.wait_ready()
        sent = await produce_batches(bootstrap, topic, [events_of_run(5) for _ in range(10)])
        assert await wait_sealed(database_url, len(sent.leaves)) == len(sent.leaves), worker.log()
        # Rotate while the old sealer runs and events keep coming.
        streaming = asyncio.ensure_future(_stream(bootstrap, topic, seconds=4.0))
        await asyncio.sleep(1.0)
        await _rotate_now(database_url, new_key_file)
        sent |= await streaming
        assert await _wait_exit(worker, 30) != 0
        assert "keys rotate" in worker.log(), worker.log()
        sent |= await produce_batches(bootstrap, topic, [events_of_run(5) for _ in range(5)])
        successor.start()  # its key is current now: nothing to register
        await successor.wait_ready()
        assert await wait_sealed(database_url, len(sent.leaves)) == len(sent.leaves), successor.log()
    finally:
        worker.stop()
        successor.stop()
    await check_ledger(database_url, sent)  # every header verifies under the key valid when it was sealed
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT header FROM blocks ORDER BY shard, height")
        new_key = load_signing_key(new_key_file, KEY_NAME)
        signers = {BlockHeader.from_bytes(bytes(r["header"])).key_id for r in rows}
    finally:
        await conn.close()
    assert new_key.key_id in signers
    assert len(signers) == 2


async def _stream(bootstrap: str, topic: str, *, seconds: float) -> Sent:
    """A small batch every 0.1 s for ``seconds``: the old sealer keeps sealing as the key rotates."""
    sent = Sent({})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sent |= await produce_batches(bootstrap, topic, [events_of_run(3)])
        await asyncio.sleep(0.1)
    return sent
