"""``provledger anchorer`` with ``PROVLEDGER_WITNESSES``: two real witnesses cosign; a bad entry stops it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import httpx
from tests.helpers.anchor_witnesses import seal_ledger, witness_parties
from tests.helpers.sealed_ledger import connected
from tests.integration.anchor.test_anchorer_command import _env, _key_file, _start

from provledger.config import KafkaSettings
from provledger.ledger.keys import SigningKey
from provledger.local.process import free_port

ANCHORER = SigningKey.generate("command.test/anchorer")


async def test_the_anchorer_submits_to_the_configured_witnesses(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    await seal_ledger(database_url, {0: [3], 1: [2]})
    parties = witness_parties(tmp_path, 2)
    port = free_port()
    env = _env(
        database_url, kafka_settings, _key_file(tmp_path, SigningKey.generate("command.test/anchorer")), port
    )
    env["PROVLEDGER_WITNESSES"] = "\n".join(w.entry() for w in parties)
    with parties[0].start(), parties[1].start():
        process = await _start(env)
        try:
            deadline = time.monotonic() + 60
            metrics = ""
            wanted = [f'_cosignatures_total{{witness="{w.key.name}"}} 2.0' for w in parties]
            async with httpx.AsyncClient(timeout=2) as client:
                while not all(line in metrics for line in wanted):
                    assert time.monotonic() < deadline, f"no cosignatures in time; metrics:\n{metrics}"
                    assert process.returncode is None, "the anchorer exited"
                    with contextlib.suppress(httpx.TransportError):
                        metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                    await asyncio.sleep(0.2)
            assert (
                'provledger_anchor_witness_failures_total{witness="participant-0.test/witness"} 0.0'
                in metrics
            )
            assert "provledger_anchor_fork_detected 0.0" in metrics
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()
    async with connected(database_url) as conn:
        rows = await conn.fetch("SELECT shard, tree_size, witness_key FROM checkpoint_cosignatures")
    assert sorted((r["shard"], r["tree_size"], r["witness_key"]) for r in rows) == sorted(
        (shard, size, w.verifier.verifier_key_string()) for shard, size in ((0, 3), (1, 2)) for w in parties
    )


async def test_a_bad_witnesses_entry_stops_the_anchorer_at_start(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    env = _env(
        database_url, kafka_settings, _key_file(tmp_path, SigningKey.generate("command.test/anchorer")), 0
    )
    entry = witness_parties(tmp_path, 1)[0].entry().replace("http://", "ftp://")
    env["PROVLEDGER_WITNESSES"] = entry
    process = await _start(env)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2, output.decode()
    assert b"PROVLEDGER_WITNESSES" in output
    assert b"is not an http:// or https:// URL" in output
