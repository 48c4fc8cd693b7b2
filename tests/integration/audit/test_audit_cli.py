"""``provledger audit`` as an operator runs it: a real process against the real Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from tests.helpers.sealed_ledger import register, seal_blocks

from provledger.events.rows import SealedBlock
from provledger.ledger.keys import SigningKey

KEY = SigningKey.generate("audit.test/cli")


def _audit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVLEDGER_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "provledger", "audit", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def _ledger(conn: asyncpg.Connection) -> list[SealedBlock]:
    await register(conn, KEY)
    blocks = await seal_blocks(conn, 0, (4, 9, 300), KEY)
    blocks += await seal_blocks(conn, 1, (2,), KEY)
    return blocks


async def test_a_clean_ledger_exits_zero_with_totals(conn: asyncpg.Connection, database_url: str) -> None:
    await _ledger(conn)
    text = _audit(database_url)
    assert text.returncode == 0, text.stderr
    assert "OK: 2 shards, 4 blocks, 315 events, every check passed" in text.stdout
    as_json = _audit(database_url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    assert report["totals"] == {"shards": 2, "events": 315, "blocks": 4, "mismatches": 0}
    assert [(s["shard"], s["events"], s["blocks"], s["tree_size"]) for s in report["shards"]] == [
        (0, 313, 3, 313),
        (1, 2, 1, 2),
    ]


async def test_a_tampered_event_exits_one_naming_block_and_event(
    conn: asyncpg.Connection, database_url: str
) -> None:
    blocks = await _ledger(conn)
    event = blocks[1].events[3]
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "UPDATE events SET canonical = 'forged'::bytea WHERE event_id = $1", event.event_id
        )
    text = _audit(database_url)
    assert text.returncode == 1, text.stderr
    assert f"MISMATCH leaf_hash: shard 0 block 1 event {event.event_id} leaf 7" in text.stdout
    assert "FAILED: 2 shards, 4 blocks, 315 events" in text.stdout
    as_json = _audit(database_url, "--json", "--max-listed", "1")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    shard = report["shards"][0]
    assert shard["mismatches"] == [
        {
            "kind": "leaf_hash",
            "height": 1,
            "event_id": str(event.event_id),
            "leaf_index": 7,
            "detail": "SHA-256(0x00 || canonical) differs from the stored leaf hash",
        }
    ]
    assert shard["mismatch_count"] == report["totals"]["mismatches"] > 1
    assert shard["unlisted_mismatches"] == shard["mismatch_count"] - 1


async def test_an_unreachable_database_exits_three() -> None:
    result = _audit("postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 3
    assert "cannot connect to the ledger database" in result.stderr


# The attack of issue 19: with write access to the database, swap another key into signing_keys
# and re-sign every block and checkpoint with it. The end state is a ledger whose rows and keys all
# agree with each other and none with the operator's key: what sealing it with the attacker's key
# from the start gives, which is how it is built here.
OPERATOR = SigningKey.generate("audit.test/trusted")
MALLORY = SigningKey.generate("audit.test/trusted")


async def test_a_swapped_key_passes_only_when_the_database_is_trusted_and_is_named_otherwise(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    await register(conn, MALLORY)
    await seal_blocks(conn, 0, (3, 5), MALLORY)
    # Without a key file the rows hold together, and the report says whose keys that rests on.
    trusting = _audit(database_url)
    assert trusting.returncode == 0, trusting.stdout + trusting.stderr
    assert "the database's own signing_keys and anchorer_keys were trusted" in " ".join(
        trusting.stdout.split()
    )
    document = json.loads(_audit(database_url, "--json").stdout)
    assert document["keys"] == {"trusted_from": "database", "trusted_keys": 0, "untrusted": []}

    keys = tmp_path / "trusted-keys.txt"
    keys.write_text(OPERATOR.verifier.verifier_key_string() + "\n")
    checked = _audit(database_url, "--trusted-keys", str(keys))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    flat = " ".join(checked.stdout.split())
    mallory = MALLORY.verifier.verifier_key_string()
    assert f"MISMATCH key_untrusted: signing_keys row {mallory}" in flat
    assert f"(id {MALLORY.key_id.hex()}) is not in --trusted-keys" in flat
    report = json.loads(_audit(database_url, "--trusted-keys", str(keys), "--json").stdout)
    assert report["ok"] is False
    assert [k["key"] for k in report["keys"]["untrusted"]] == [mallory]
    # Every block signature and checkpoint note fails under the operator's key as well.
    kinds = report["shards"][0]["mismatch_counts"]
    assert (kinds["signature"], kinds["checkpoint"]) == (2, 2), kinds


async def test_the_operators_own_key_audits_clean(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    await register(conn, OPERATOR)
    await seal_blocks(conn, 0, (4,), OPERATOR)
    keys = tmp_path / "trusted-keys.json"
    keys.write_text(json.dumps([{"key": OPERATOR.verifier.verifier_key_string(), "valid_from": 0}]))
    checked = _audit(database_url, "--trusted-keys", str(keys), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["keys"] == {"trusted_from": "user", "trusted_keys": 1, "untrusted": []}
