"""The witness story end to end: two real witnesses cosign for the anchorer; then the API, verify, audit.

Real Postgres, broker and ``provledger witness`` processes (``tests/helpers/anchor_witnesses.py``);
the API runs in-process. What the anchorer's client stored must come out of ``/tlog`` as one
note both witnesses' keys verify, go into bundles that ``provledger verify`` accepts under a
2-of-2 policy, and pass ``provledger audit --witness-policy``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.anchor_witnesses import (
    SEALER,
    TestWitness,
    clients,
    seal_ledger,
    witness_parties,
    witnessing_anchorer,
)
from tests.helpers.api_harness import api_settings, client_for, make_tokens
from tests.helpers.sealed_ledger import LOG_ORIGIN, connected

from provledger.cli import main
from provledger.config import KafkaSettings
from provledger.ledger.checkpoint import Checkpoint
from provledger.ledger.note import open_note, parse_note


def _audit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "provledger", "audit", *args],
        env={**env, "PROVLEDGER_DATABASE_URL": database_url}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def _policy(path: Path, parties: list[TestWitness]) -> Path:
    """A 2-of-2 policy of the two participants' witnesses, as each participant would write it."""
    path.write_text(
        "".join(f"witness p{i} {w.verifier.verifier_key_string()}\n" for i, w in enumerate(parties))
        + "group federation all p0 p1\nquorum federation\n"
    )
    return path


async def test_two_real_witnesses_cosignatures_reach_tlog_bundles_verify_and_audit(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await seal_ledger(database_url, {0: [2, 3]})  # shard 0: trees of 2 and 5
    parties = witness_parties(tmp_path, 2, shards=1)
    with parties[0].start(), parties[1].start():
        async with witnessing_anchorer(database_url, kafka_settings, clients(parties)) as anchorer:
            await anchorer.tick()
            assert anchorer.fork is None
    async with connected(database_url) as conn:
        event_id = await conn.fetchval("SELECT event_id FROM events WHERE shard = 0 AND leaf_index = 0")

    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    async with client_for(settings, tokens.read) as client:
        served = (await client.get("/tlog/0/checkpoint")).text
        bundle = (await client.get(f"/v1/events/{event_id}/evidence")).json()
    verifiers = [SEALER.verifier, *(w.verifier for w in parties)]
    assert {s.name for s in open_note(served, verifiers).verified} == {
        SEALER.name,
        *(w.key.name for w in parties),
    }
    (receipt,) = [r for r in bundle["receipts"] if r["type"] == "tlog-witness"]
    assert Checkpoint.parse(parse_note(receipt["checkpoint"]).text).size == 5  # block 0's tree is 2
    assert len(receipt["consistency_proof"]) > 0

    policy = _policy(tmp_path / "witnesses.txt", parties)
    keys = tmp_path / "keys.txt"
    keys.write_text(SEALER.verifier.verifier_key_string() + "\n")
    (tmp_path / "evidence.json").write_text(json.dumps(bundle))
    capsys.readouterr()
    with pytest.raises(SystemExit) as verified:
        main([
            "verify", str(tmp_path / "evidence.json"), "--trusted-keys", str(keys),
            "--log-origin", LOG_ORIGIN, "--witness-policy", str(policy), "--require", "witness", "--json",
        ])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    # The sealed ledger helper's events are stand-in bytes, so only the event-id check may fail.
    failed = [c["name"] for c in report["checks"] if c["status"] == "failed"]
    assert failed == ["event-id"], report
    assert verified.value.code == 1
    assert any(c["name"].endswith("tlog-witness") and c["status"] == "passed" for c in report["checks"]), (
        report
    )

    audited = _audit(database_url, "--json", "--witness-policy", str(policy))
    assert audited.returncode == 0, audited.stdout + audited.stderr
    cosignatures = json.loads(audited.stdout)["cosignatures"]
    assert cosignatures["untrusted"] == {}
    assert cosignatures["verified"] == {w.verifier.verifier_key_string(): 1 for w in parties}
