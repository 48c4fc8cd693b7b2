"""The sealer's :class:`~provledger.sealer.core.ShardStore` over an asyncpg pool.

A thin adapter: each call borrows a connection for exactly one function of
:mod:`provledger.store.blocks`, so a connection is held only while Postgres works (with fewer
``write_connections`` than shards, one shard's block is built while another's is written), and
the sealer makes the same round trips it would make on the pool itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from provledger.events.rows import SealedBlock, ShardState
from provledger.store import blocks
from provledger.store.artifacts import ArtifactIds
from provledger.store.db import Conn


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

    async def sealed_leaf_hashes(self, event_ids: list[str]) -> dict[str, bytes]:
        async with self._connection() as conn:
            return await blocks.existing_leaf_hashes(conn, event_ids)

    async def write_block(self, block: SealedBlock, expected_offset: int) -> None:
        async with self._connection() as conn:
            await blocks.write_block(conn, block, expected_offset, self._artifacts)

    async def advance_offset(self, shard: int, expected: int, next_offset: int) -> None:
        async with self._connection() as conn:
            await blocks.advance_offset(conn, shard, expected, next_offset)
