"""Key rotation against the real Postgres: the new key takes over from a block on, old blocks still verify."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from tests.helpers.sealed_ledger import START_US, register, seal_blocks

from provledger.audit import audit_ledger
from provledger.errors import ConfigurationError, VerificationError
from provledger.events.rows import SealedBlock
from provledger.keyfiles import generate_key_file
from provledger.ledger.block import verify_header_signature
from provledger.ledger.keys import SigningKey
from provledger.store.keys import (
    check_signing_key,
    load_keyset,
    only_shard,
    rotate_key,
    rotation_point_at_height,
)

OLD = SigningKey.generate("audit.test/sealer")
NEW = SigningKey.generate("audit.test/sealer")


async def test_the_new_key_takes_over_from_the_given_height(conn: asyncpg.Connection) -> None:
    await register(conn, OLD)
    before = await seal_blocks(conn, 1, (4,), OLD)  # shard 1 sealed first: the rotation follows shard 0
    before += await seal_blocks(conn, 0, (3, 5, 2), OLD)
    shard = before[-1].shard
    point = await rotation_point_at_height(conn, shard, 3)
    assert point == before[-1].header.sealed_at + 1
    rotation = await rotate_key(conn, NEW.verifier, point)
    assert rotation.retired == OLD.verifier
    after = await seal_blocks(conn, 0, (6, 1), NEW) + await seal_blocks(conn, 1, (2,), NEW)
    assert after[0].header.height == 3

    keyset = await load_keyset(conn)
    for block in before:
        assert verify_header_signature(block.header, block.signature, keyset).verifier == OLD.verifier
    for block in after:
        assert verify_header_signature(block.header, block.signature, keyset).verifier == NEW.verifier
    assert (await audit_ledger(conn)).ok

    # A sealer still running with the retired key: its next block does not verify, and the audit says so.
    [stale] = await seal_blocks(conn, 1, (3,), OLD)
    with pytest.raises(VerificationError, match="is not valid at"):
        verify_header_signature(stale.header, stale.signature, await load_keyset(conn))
    report = await audit_ledger(conn)
    assert [(s, m.kind, m.height) for s, m in report.mismatches()] == [(stale.shard, "signature", 2)]


async def test_rotation_never_invalidates_a_sealed_block(conn: asyncpg.Connection) -> None:
    await register(conn, OLD)
    a = await seal_blocks(conn, 0, (3, 3), OLD)
    b = await seal_blocks(conn, 1, (2,), OLD)
    with pytest.raises(ConfigurationError, match="block 1 of shard 0 is already sealed"):
        await rotation_point_at_height(conn, a[0].shard, 1)
    with pytest.raises(ConfigurationError, match="has no block 6"):
        await rotation_point_at_height(conn, a[0].shard, 7)
    with pytest.raises(ConfigurationError, match="at least 1"):
        await rotation_point_at_height(conn, a[0].shard, 0)
    # Shard 0's next height is 2, but shard 1 sealed a block after shard 0's last one.
    point = await rotation_point_at_height(conn, a[0].shard, 2)
    with pytest.raises(ConfigurationError, match=f"block 0 of shard {b[0].shard} was sealed at"):
        await rotate_key(conn, NEW.verifier, point)
    with pytest.raises(ConfigurationError, match="several shards"):
        await only_shard(conn)
    with pytest.raises(ConfigurationError, match="already registered"):
        await rotate_key(conn, OLD.verifier, b[0].header.sealed_at + 1)
    rotation = await rotate_key(conn, NEW.verifier, b[0].header.sealed_at + 1)
    with pytest.raises(ConfigurationError, match="rotation point must be later"):
        await rotate_key(conn, SigningKey.generate("x").verifier, rotation.key.valid_from)
    assert (await audit_ledger(conn)).ok


async def test_a_sealer_refuses_a_retired_key(conn: asyncpg.Connection) -> None:
    await rotate_key(conn, OLD.verifier, 1_000)  # the first key: a sealer never registers one
    await check_signing_key(conn, OLD.verifier, 2_000)
    await rotate_key(conn, NEW.verifier, 3_000)
    with pytest.raises(ConfigurationError, match="rotated out"):
        await check_signing_key(conn, OLD.verifier, 4_000)
    await check_signing_key(conn, NEW.verifier, 4_000)
    renamed = SigningKey.from_pem(NEW.to_pem(), "another/name")
    with pytest.raises(ConfigurationError, match="registered under another name"):
        await check_signing_key(conn, renamed.verifier, 5_000)


def _rotate(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVLEDGER_DATABASE_URL": database_url, "PROVLEDGER_SIGNING_KEY_NAME": "cli.test/k"}
    return subprocess.run(
        [sys.executable, "-m", "provledger", "keys", "rotate", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_the_rotate_command(conn: asyncpg.Connection, database_url: str, tmp_path: Path) -> None:
    old = generate_key_file(tmp_path / "old.pem", "cli.test/k")
    await register(conn, old)
    blocks: list[SealedBlock] = await seal_blocks(conn, 0, (2, 2), old)
    new_file = tmp_path / "new.pem"
    new = generate_key_file(new_file, "cli.test/k")

    missing = _rotate(database_url, "--key-file", str(new_file))
    assert missing.returncode == 2
    assert "either --from-height H or --now" in missing.stderr

    result = _rotate(database_url, "--key-file", str(new_file), "--from-height", "2")
    assert result.returncode == 0, result.stderr
    assert new.verifier.verifier_key_string() in result.stdout
    assert f"Restart every sealer now with PROVLEDGER_SIGNING_KEY_FILE={new_file}" in result.stdout
    [row] = await conn.fetch(
        "SELECT verifier_key FROM signing_keys WHERE public_key = $1", new.verifier.public_key
    )
    keyset = await load_keyset(conn)
    [trusted] = [k for k in keyset.keys if k.verifier == new.verifier]
    assert trusted.valid_from == blocks[-1].header.sealed_at + 1
    assert row["verifier_key"] == new.verifier.verifier_key_string()

    again = _rotate(database_url, "--key-file", str(new_file), "--now")
    assert again.returncode == 2
    assert "already registered" in again.stderr


async def test_the_sealer_command_refuses_to_start_with_a_retired_key(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    old_file = tmp_path / "old.pem"
    old = generate_key_file(old_file, "cli.test/k")
    await register(conn, old)
    await rotate_key(conn, SigningKey.generate("cli.test/k").verifier, START_US)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")} | {
        "PROVLEDGER_DATABASE_URL": database_url,
        "PROVLEDGER_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # never reached: the key check comes first
        "PROVLEDGER_SIGNING_KEY_FILE": str(old_file),
        "PROVLEDGER_SIGNING_KEY_NAME": "cli.test/k",
    }
    command = [sys.executable, "-m", "provledger", "sealer"]
    result = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "rotated out" in result.stderr
