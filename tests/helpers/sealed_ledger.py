"""Build a real sealed ledger in Postgres by driving the store directly, as the sealer would.

Each block gets its own ``sealed_at`` (a microsecond clock that only moves forward), so tests can
rotate keys between blocks and find a block by the time it was sealed.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from provledger.events.rows import ArtifactKey, EventRow, SealedBlock
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import leaf_hash
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block
from provledger.store.keys import register_key

LOG_ORIGIN = "audit.test/ledger"
START_US = 1_700_000_000_000_000
DATASET = ArtifactKey("s3://lake", "imagenet", "sha256:" + "ab" * 32, "dataset")
MODEL = ArtifactKey("models", "resnet", "sha256:" + "cd" * 32, "model")

_clock = itertools.count(START_US, 1_000)


@asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's database, closed however the test ends."""
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


def next_sealed_at() -> int:
    """A sealed_at later than every one handed out before (process-wide)."""
    return next(_clock)


def accepted_events(count: int, first_offset: int) -> list[EventRow]:
    """``count`` distinct events from consecutive source offsets, each with lineage."""
    events = []
    for offset in range(first_offset, first_offset + count):
        event_id = str(uuid.uuid4())
        canonical = f"event {event_id} at offset {offset}".encode()
        run = str(uuid.UUID(int=offset // 10 + 1))
        events.append(
            EventRow(event_id, canonical, leaf_hash(canonical), START_US + offset, "COMPLETE", run, None,
                     "vision", "train", (DATASET,), (MODEL,), offset)
        )  # fmt: skip
    return events


async def register(conn: asyncpg.Connection, key: SigningKey, valid_from: int = START_US - 1) -> None:
    """Trust ``key`` from ``valid_from`` on (before every block this module seals, by default)."""
    await register_key(conn, key.verifier, valid_from)


async def seal_blocks(
    conn: asyncpg.Connection,
    partition: int,
    sizes: Sequence[int],
    key: SigningKey,
    topic: str = "provledger.events",
) -> list[SealedBlock]:
    """Seal one block of each size on ``topic``/``partition``, resuming from the stored head."""
    shard = await ensure_shard(conn, topic, partition)
    sealed = []
    for size in sizes:
        log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
        first = log.next_offset
        block = log.seal(accepted_events(size, first), first, first + size - 1, key, next_sealed_at())
        await write_block(conn, block, first)
        sealed.append(block)
    return sealed
