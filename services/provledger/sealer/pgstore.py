"""The sealer's :class:`~provledger.sealer.core.ShardStore` over an asyncpg pool.

A thin adapter: each call borrows a connection for exactly one function of
:mod:`provledger.store.blocks`, so a connection is held only while Postgres works (with fewer
``write_connections`` than shards, one shard's block is built while another's is written), and
the sealer makes the same round trips it would make on the pool itself.

A block write also holds off key rotations and checks the block's signature under the key
registered for its ``sealed_at`` (:func:`provledger.store.keys.block_key_held`): a sealer whose
key a rotation elsewhere retired is refused there, before it commits a block that fails
verification.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from provledger.events.rows import SealedBlock, ShardState
from provledger.ledger.block import BlockHeader, log_id_for
from provledger.sealer.shardlog import StandDown
from provledger.store import blocks, reads
from provledger.store.artifacts import ArtifactIds
from provledger.store.db import Conn
from provledger.store.keys import block_key_held


class PoolShardStore:
    """Shard heads, dedupe lookups and compare-and-set writes on connections of ``pool``.

    It remembers the artifact ids its commits made, so a block whose artifacts were seen before
    costs no lookup. After any failed call it forgets them: the failure may be the server losing
    commits (a restore, a failover to a lagging replica), and an id remembered from a lost
    commit would point an edge at nothing. Refilling costs one lookup per artifact.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._artifacts = ArtifactIds()  # artifacts are global: every shard's blocks share the ids

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except BaseException:
            self._artifacts.clear()
            raise

    async def ensure_shard(self, topic: str, partition: int) -> int:
        async with self._connection() as conn:
            return await blocks.ensure_shard(conn, topic, partition)

    async def load_head(self, shard: int) -> ShardState:
        async with self._connection() as conn:
            return await blocks.load_head(conn, shard)

    async def block_header(self, shard: int, height: int) -> BlockHeader | None:
        async with self._connection() as conn:
            row = await reads.block(conn, shard, height)
        return None if row is None else BlockHeader.from_bytes(bytes(row["header"]))

    async def sealed_leaf_hashes(self, event_ids: list[str]) -> dict[str, bytes]:
        async with self._connection() as conn:
            return await blocks.existing_leaf_hashes(conn, event_ids)

    async def write_block(self, block: SealedBlock, expected_offset: int) -> None:
        async with self._connection() as conn, block_key_held(conn, block.header, block.signature):
            await blocks.write_block(conn, block, expected_offset, self._artifacts)

    async def advance_offset(
        self, shard: int, expected: int, next_offset: int, *, missing_from_source: bool = False
    ) -> None:
        reason = blocks.MISSING_FROM_SOURCE if missing_from_source else blocks.UNSEALED_REASON
        async with self._connection() as conn:
            await blocks.advance_offset(conn, shard, expected, next_offset, reason)


async def check_log_origin(conn: Conn, log_origin: str) -> None:
    """Refuse to start a sealer of ``log_origin`` on a database whose shards belong to another log.

    Each shard's newest header MUST carry this origin's ``log_id``; else :class:`StandDown` names
    both origins (the other one read from the shard checkpoint stored with that block).
    """
    expected, after = log_id_for(log_origin), None
    while page := await reads.shards(conn, after, 100):
        for shard in page:
            after = shard["shard"]
            if shard["height"] is None:
                continue
            row = await reads.block(conn, after, shard["height"])
            if row is None:  # the head was read a moment ago, and blocks are append-only
                continue
            header = BlockHeader.from_bytes(bytes(row["header"]))
            if header.log_id != expected:
                note = str(row["note"] or "")
                theirs = note.split("\n", 1)[0].rsplit("/shard/", 1)[0] or f"log_id {header.log_id.hex()}"
                raise StandDown(
                    f"shard {after} belongs to the log {theirs!r}, not to this sealer's log {log_origin!r} "
                    "(PROVLEDGER_LOG_ORIGIN): a sealer extends only its own log's shards. Set "
                    f"PROVLEDGER_LOG_ORIGIN={theirs} if this is that ledger, else use another database."
                )
