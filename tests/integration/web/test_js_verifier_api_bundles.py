"""Bundles the API serves from a real sealed ledger (Postgres) verify in the page's verifier: under the
sealer's pinned key as ``verified``, under ``GET /v1/keys`` alone as ``server-keys``, as
``provledger verify`` passes them; and a bundle of another ledger's key fails in both.
"""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest
from tests.helpers.api_harness import KEY, LOG_ORIGIN, api_settings, client_for, events, seal
from tests.helpers.tampered_bundles import js_verdicts, python_verdicts

from provledger.config import KafkaSettings
from provledger.ledger.keys import SigningKey


async def test_api_bundles_are_verified_under_pinned_keys_and_server_keys_only_under_v1_keys(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(14), block_size=5)
        event_ids = [row["event_id"] for row in await conn.fetch("SELECT event_id::text FROM events")]
    finally:
        await conn.close()
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens.jsonl", public_reads=True)
    async with client_for(settings) as api:
        bundles = [(await api.get(f"/v1/events/{event_id}/evidence")).json() for event_id in event_ids]
        served = (await api.get("/v1/keys")).json()
    files = []
    for number, bundle in enumerate(bundles):
        files.append(tmp_path / f"bundle-{number}.json")
        files[-1].write_text(json.dumps(bundle))
    keys, server_keys = tmp_path / "keys.txt", tmp_path / "server-keys.json"
    keys.write_text(KEY.verifier.verifier_key_string() + "\n")
    server_keys.write_text(json.dumps(served))
    origin = ["--log-origin", LOG_ORIGIN]

    assert len(files) == 14
    assert all(
        report["ok"] for report in python_verdicts(files, ["--trusted-keys", str(keys), *origin], capsys)
    )
    pinned = js_verdicts(files, ["--trusted-keys", str(keys), *origin])
    assert {(v["status"], v["reason"]) for v in pinned} == {("verified", None)}, pinned[0]
    server = js_verdicts(files, ["--server-keys", str(server_keys), *origin])
    assert {(v["status"], v["reason"]) for v in server} == {("server-keys", None)}, server[0]

    stranger = tmp_path / "stranger.txt"
    stranger.write_text(SigningKey.generate(LOG_ORIGIN).verifier.verifier_key_string() + "\n")
    (report,) = python_verdicts(files[:1], ["--trusted-keys", str(stranger), *origin], capsys)
    (verdict,) = js_verdicts(files[:1], ["--trusted-keys", str(stranger), *origin])
    assert not report["ok"]
    assert verdict["status"] == "failed"
    assert verdict["reason"].startswith("header-signature: ")
