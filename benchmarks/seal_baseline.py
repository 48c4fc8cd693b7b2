"""The sealer benchmark's baseline: a plain aiokafka ``getmany`` loop that writes the same rows.

It decodes each record the fastest way this code knows (the sealer's fast reader, the general
decoder for what that declines: the rows need the events' fields and canonical bytes) and writes
one block value per partition and fetch through the same store code as the sealer, into the same
tables, with the same rows (one lineage edge per run and artifact in a block), but with no
hashing, no signing, no Merkle tree or tiles, no deduplication query and no Faust: what is left
is the cost of moving the rows from the broker into Postgres.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from provledger.events import decode_record
from provledger.events.compiled import read_batch
from provledger.events.rows import EventRow, SealedBlock
from provledger.ledger.block import GENESIS_PREV_HASH, HEADER_VERSION, BlockHeader, log_id_for
from provledger.sealer.intake import accept
from provledger.sealer.shardlog import lineage_rows, run_rows
from provledger.store.artifacts import ArtifactIds
from provledger.store.blocks import ensure_shard, write_block
from provledger.store.db import create_pool

_ZERO = bytes(32)
_LOG_ID = log_id_for("bench.provledger/baseline")


class _Shard:
    def __init__(self, shard: int) -> None:
        self.shard, self.height, self.tree_size, self.next_offset = shard, 0, 0, 0


def _decode(value: bytes, offset: int) -> list[EventRow]:
    fast = read_batch(value, offset)
    if fast is not None:
        return fast
    return [accept(event, offset) for event in decode_record(value)]


def _block(state: _Shard, events: list[EventRow], first: int, last: int) -> SealedBlock:
    times = [e.event_time for e in events]
    header = BlockHeader(
        HEADER_VERSION, _LOG_ID, state.shard, state.height,
        GENESIS_PREV_HASH if state.height == 0 else b"\x01" * 32, _ZERO, state.tree_size + len(events), _ZERO,
        first, last, len(events), min(times), max(times), time.time_ns() // 1000, bytes(4),
    )  # fmt: skip
    unique = state.shard.to_bytes(8, "big") + state.height.to_bytes(24, "big")  # unique, not a hash
    return SealedBlock(state.shard, header, header.to_bytes(), unique, bytes(64), "baseline\n",
                       tuple(events), (), run_rows(events), lineage_rows(events), last + 1)  # fmt: skip


async def copy_loop(bootstrap: str, topic: str, database_url: str, events: int, max_records: int) -> None:
    """Move ``events`` events from ``topic`` into Postgres, one block per partition and fetch."""
    pool = await create_pool(database_url, max_size=2)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    shards: dict[TopicPartition, _Shard] = {}
    artifacts = ArtifactIds()
    done = 0
    try:
        while done < events:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=max_records)
            async with pool.acquire() as conn:
                for tp, records in fetched.items():
                    if tp not in shards:
                        shards[tp] = _Shard(await ensure_shard(conn, tp.topic, tp.partition))
                    state = shards[tp]
                    batch = [e for record in records for e in _decode(record.value, record.offset)]
                    block = _block(state, batch, records[0].offset, records[-1].offset)
                    await write_block(conn, block, state.next_offset, artifacts)
                    state.height, state.tree_size = state.height + 1, block.header.tree_size
                    state.next_offset = block.next_offset
                    done += len(batch)
    finally:
        await consumer.stop()
        await pool.close()
