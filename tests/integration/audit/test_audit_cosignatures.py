"""``provledger audit`` rechecks every stored witness cosignature: real Postgres, cosignatures, CLI.

Each row is what a witness returns over the stored checkpoint note (:mod:`tests.helpers.cosigned`);
each lie is stored as a compromised anchorer or database could store it, and must be named by
kind, shard, size and witness key with exit status 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tests.helpers.cosigned import (
    BASE_TIME,
    cosignature_line,
    store_cosignature,
    stored_note,
    witness,
    witness_key_string,
)
from tests.helpers.sealed_ledger import register, seal_blocks

from provledger.audit.anchor_run import audit_cosignatures
from provledger.ledger.keys import SigningKey

KEY = SigningKey.generate("audit.test/cosigned")
ALICE, BOB = witness("witness.test/alice"), witness("witness.test/bob")
SIZES = (4, 13, 43)  # the shard's tree after each of its three blocks


def _audit(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    env["PROVLEDGER_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "provledger", "audit", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def _cosigned_ledger(conn: asyncpg.Connection) -> None:
    """Three blocks of shard 0; alice cosigned every checkpoint, bob the last two, each later in time."""
    await register(conn, KEY)
    await seal_blocks(conn, 0, (4, 9, 30), KEY)
    for step, size in enumerate(SIZES):
        await store_cosignature(conn, 0, size, ALICE, BASE_TIME + 10 * step)
        if step:
            await store_cosignature(conn, 0, size, BOB, BASE_TIME + 10 * step + 1)


async def test_clean_cosignatures_pass_with_counts_per_witness(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await _cosigned_ledger(conn)
    text = _audit(database_url)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "witness cosignatures: 5 stored" in text.stdout
    assert "checked under the witness key its own row names" in text.stdout
    assert "every check passed" in text.stdout
    report = json.loads(_audit(database_url, "--json").stdout)
    assert report["ok"] is True
    assert report["cosignatures"]["verified"] == {witness_key_string(ALICE): 3, witness_key_string(BOB): 2}
    assert report["cosignatures"]["mismatch_count"] == 0


def _flip(line: str) -> str:
    """The line with one base64 character of its signature changed (still valid base64)."""
    at = len(line) - 10
    return line[:at] + ("A" if line[at] != "A" else "B") + line[at + 1 :]


async def _tampered(conn: asyncpg.Connection) -> str:
    line = cosignature_line(await stored_note(conn, 0, 43), BOB, BASE_TIME + 99)
    await store_cosignature(conn, 0, 43, BOB, line=_flip(line))
    return "cosignature"


async def _another_key(conn: asyncpg.Connection) -> str:
    mallory = SigningKey.generate(BOB.name)  # same name as bob, another key
    await store_cosignature(conn, 0, 43, mallory, BASE_TIME + 99, witness_key=witness_key_string(BOB))
    return "cosignature_line"


async def _another_checkpoint(conn: asyncpg.Connection) -> str:
    line = cosignature_line(await stored_note(conn, 0, 4), BOB, BASE_TIME + 99)  # bob's line over size 4
    await store_cosignature(conn, 0, 43, BOB, line=line)
    return "cosignature"


async def _wrong_time(conn: asyncpg.Connection) -> str:
    stated = datetime.fromtimestamp(BASE_TIME, UTC)
    await store_cosignature(conn, 0, 43, BOB, BASE_TIME + 99, cosigned_at=stated)
    return "cosignature_time"


async def _backwards(conn: asyncpg.Connection) -> str:
    await store_cosignature(conn, 0, 43, BOB, BASE_TIME - 50)  # size 43 cosigned before size 4
    await store_cosignature(conn, 0, 4, BOB, BASE_TIME)
    return "cosignature_order"


@pytest.mark.parametrize(
    "lie",
    [_tampered, _another_key, _another_checkpoint, _wrong_time, _backwards],
    ids=["tampered-line", "another-key", "another-checkpoint", "wrong-time", "sizes-go-back"],
)
async def test_each_lie_is_named_with_exit_one(
    conn: asyncpg.Connection, database_url: str, lie: Callable[[asyncpg.Connection], Awaitable[str]]
) -> None:
    await register(conn, KEY)
    await seal_blocks(conn, 0, (4, 9, 30), KEY)
    await store_cosignature(conn, 0, 13, ALICE, BASE_TIME)  # an honest row beside the lie
    kind = await lie(conn)
    text = _audit(database_url)
    assert text.returncode == 1, text.stdout + text.stderr
    assert f"MISMATCH {kind}: shard 0 size " in text.stdout
    assert "FAILED" in text.stdout
    report = json.loads(_audit(database_url, "--json").stdout)
    assert report["ok"] is False
    cosignatures: dict[str, Any] = report["cosignatures"]
    assert cosignatures["mismatch_counts"] == {kind: 1}
    (mismatch,) = cosignatures["mismatches"]
    assert (mismatch["shard"], mismatch["witness_key"]) == (0, witness_key_string(BOB))
    assert mismatch["tree_size"] == 43  # the lie's row (the larger tree cosigned too early, for the order)
    assert cosignatures["verified"][witness_key_string(ALICE)] == 1
    assert report["totals"]["mismatches"] == 1


async def test_a_key_the_policy_does_not_list_is_reported_not_trusted(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    await _cosigned_ledger(conn)
    policy = tmp_path / "witnesses.txt"
    policy.write_text(f"witness alice {witness_key_string(ALICE)}\nquorum alice\n")
    text = _audit(database_url, "--witness-policy", str(policy))
    assert text.returncode == 0, text.stdout + text.stderr  # every line verifies under the key it names...
    assert f"UNTRUSTED witness key {witness_key_string(BOB)}: 2 rows" in text.stdout  # ...bob is not yours
    report = json.loads(_audit(database_url, "--json", "--witness-policy", str(policy)).stdout)
    assert report["cosignatures"]["untrusted"] == {witness_key_string(BOB): 2}
    everyone = await audit_cosignatures(conn, trusted=None, progress=None, max_listed=10)
    assert everyone is not None
    assert everyone.untrusted is None

    policy.write_text("witness alice not-a-key\nquorum alice\n")
    broken = _audit(database_url, "--witness-policy", str(policy))
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert str(policy) in broken.stderr
