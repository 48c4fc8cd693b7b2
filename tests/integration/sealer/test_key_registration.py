"""Registering the first key, and a block write racing a rotation, against real Postgres.

A block write holds the rotation lock shared from its key check to its commit
(:func:`provledger.store.keys.block_key_held`): a rotation started meanwhile waits, then sees the
block and refuses a point at or before it; a block sealed after a committed rotation's point is
refused before anything is written. Either way no stored block is signed outside its key's range.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from tests.helpers.sealed_ledger import LOG_ORIGIN, START_US, accepted_events, register

from provledger.errors import ConfigurationError
from provledger.events.rows import SealedBlock
from provledger.ledger.keys import SigningKey
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block
from provledger.store.keys import (
    block_key_held,
    check_signing_key,
    load_keyset,
    register_first_key,
    rotate_key,
)

OLD = SigningKey.generate("registration.test/sealer")
NEW = SigningKey.generate("registration.test/sealer")


async def test_the_first_key_is_registered_once_and_never_replaced(conn: asyncpg.Connection) -> None:
    with pytest.raises(ConfigurationError, match="provledger keys rotate"):
        await check_signing_key(conn, OLD.verifier, START_US)  # nothing registered: refused, not registered
    rotation = await register_first_key(conn, OLD.verifier, START_US)
    assert rotation is not None
    assert rotation.retired is None
    assert await register_first_key(conn, OLD.verifier, START_US + 5) is None  # current: left as it is
    with pytest.raises(ConfigurationError, match="provledger keys rotate"):
        await register_first_key(conn, NEW.verifier, START_US + 10)  # that would be a rotation
    assert [k.verifier for k in (await load_keyset(conn)).keys] == [OLD.verifier]
    with pytest.raises(ConfigurationError, match="not valid yet"):
        await check_signing_key(conn, OLD.verifier, START_US - 1)
    assert (await check_signing_key(conn, OLD.verifier, START_US + 1)).valid_until is None


async def _next_block(conn: asyncpg.Connection, sealed_at: int) -> tuple[SealedBlock, int]:
    shard = await ensure_shard(conn, "provledger.events", 0)
    log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
    first = log.next_offset
    return log.seal(accepted_events(2, first), first, first + 1, OLD, sealed_at), first


async def test_a_rotation_waits_for_a_block_being_written_then_refuses_a_point_before_it(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await register(conn, OLD)
    block, first = await _next_block(conn, START_US + 1_000)
    rotator = await asyncpg.connect(database_url)
    try:
        async with block_key_held(conn, block.header, block.signature):
            rotating = asyncio.ensure_future(rotate_key(rotator, NEW.verifier, START_US + 500))
            await asyncio.sleep(0.5)
            assert not rotating.done(), "the rotation went ahead while a block of the old key was written"
            await write_block(conn, block, first)
        with pytest.raises(ConfigurationError, match="not before the rotation point"):
            await rotating
    finally:
        await rotator.close()
    assert len((await load_keyset(conn)).keys) == 1


async def test_a_block_sealed_after_a_rotation_is_refused_before_it_is_written(
    conn: asyncpg.Connection,
) -> None:
    await register(conn, OLD)
    await rotate_key(conn, NEW.verifier, START_US + 500)
    block, _ = await _next_block(conn, START_US + 1_000)
    with pytest.raises(ConfigurationError, match="keys rotate"):
        async with block_key_held(conn, block.header, block.signature):
            raise AssertionError("the block's key check passed although its key was retired")
    assert await conn.fetchval("SELECT count(*) FROM blocks") == 0
    # The lock was released: the next rotation is not kept waiting.
    await asyncio.wait_for(rotate_key(conn, SigningKey.generate("x.test/k").verifier, START_US + 2_000), 5)


async def test_a_rotation_now_takes_its_point_after_the_blocks_being_written(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await register(conn, OLD)
    # Stamped 0.3 s ahead of the rotation's start, as a sealer's clamped or skewed clock may be:
    # a point read before the lock would come before it and be refused.
    block, first = await _next_block(conn, time.time_ns() // 1000 + 300_000)
    rotator = await asyncpg.connect(database_url)
    try:
        async with block_key_held(conn, block.header, block.signature):
            rotating = asyncio.ensure_future(rotate_key(rotator, NEW.verifier, None))
            await asyncio.sleep(0.5)
            await write_block(conn, block, first)
        rotation = await rotating
    finally:
        await rotator.close()
    assert rotation.key.valid_from > block.header.sealed_at
