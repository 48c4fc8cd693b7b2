"""Write a sealed block in one transaction, and load a shard's head to resume from.

The write is a compare-and-set on the shard head (as Sunlight's lock backend): the block's
``(shard, height)`` primary key and the conditional update of the shard's consumer offset both
refuse a second writer, so two sealers that both believe they own a shard can never fork it.
"""

from __future__ import annotations

import asyncpg

from provledger.errors import StaleShard
from provledger.events.model import time_from_micros
from provledger.events.rows import SealedBlock, ShardState
from provledger.ledger.block import GENESIS_PREV_HASH
from provledger.ledger.proofs import range_nodes
from provledger.ledger.tiles import partial_tile_coordinates
from provledger.store.artifacts import ArtifactIds, Key, artifact_ids
from provledger.store.db import Conn
from provledger.store.tiles import read_nodes, read_tiles


async def ensure_shard(conn: Conn, topic: str, partition: int) -> int:
    """The shard number of ``topic``/``partition``, registering it on first sight."""
    shard: int | None = await conn.fetchval(
        "INSERT INTO shards (topic, partition) VALUES ($1, $2) ON CONFLICT (topic, partition) DO NOTHING "
        "RETURNING shard",
        topic,
        partition,
    )
    if shard is None:
        shard = await conn.fetchval(
            "SELECT shard FROM shards WHERE topic = $1 AND partition = $2", topic, partition
        )
    assert shard is not None
    return shard


async def load_head(conn: Conn, shard: int) -> ShardState:
    """Read the shard's last block, consumer offset, frontier and partial tiles (O(log n) rows)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        last = await conn.fetchrow(
            "SELECT height, block_hash, tree_size FROM blocks WHERE shard = $1 ORDER BY height DESC LIMIT 1",
            shard,
        )
        next_offset = await conn.fetchval("SELECT next_offset FROM consumer_offsets WHERE shard = $1", shard)
        tree_size = last["tree_size"] if last else 0
        frontier = await read_nodes(conn, shard, range_nodes(0, tree_size)) if tree_size else []
        partial = await read_tiles(conn, shard, partial_tile_coordinates(tree_size))
    return ShardState(
        shard=shard,
        next_height=last["height"] + 1 if last else 0,
        prev_block_hash=bytes(last["block_hash"]) if last else GENESIS_PREV_HASH,
        tree_size=tree_size,
        next_offset=next_offset or 0,
        frontier=tuple(frontier),
        partial_tiles=tuple(partial),
    )


async def existing_leaf_hashes(conn: Conn, event_ids: list[str]) -> dict[str, bytes]:
    """Leaf hashes of the given events already sealed anywhere, for deduplication.

    Ids in and out are the rows' canonical texts (:class:`~provledger.events.rows.EventRow`).
    """
    rows = await conn.fetch(
        "SELECT event_id, leaf_hash FROM events WHERE event_id = ANY($1::uuid[])", event_ids
    )
    return {str(row["event_id"]): bytes(row["leaf_hash"]) for row in rows}


async def write_block(
    conn: Conn, block: SealedBlock, expected_offset: int, artifacts: ArtifactIds | None = None
) -> None:
    """Write ``block`` and everything it covers atomically; :class:`StaleShard` if another sealer won.

    ``artifacts`` are the artifact ids the caller's earlier commits made (a long-lived writer
    passes the same one each time); this commit's are added to it once it has committed.
    """
    header = block.header
    known = artifacts if artifacts is not None else ArtifactIds()
    first_leaf = block.first_leaf_index
    try:
        async with conn.transaction():
            await _insert_block(conn, block)
            await conn.copy_records_to_table(
                "events",
                columns=["event_id", "shard", "leaf_index", "height", "leaf_hash", "canonical", "event_time",
                         "event_type", "run_id", "job_namespace", "job_name", "source_offset"],
                records=[(e.event_id, block.shard, first_leaf + i, header.height, e.leaf_hash, e.canonical,
                          time_from_micros(e.event_time), e.event_type, e.run_id, e.job_namespace, e.job_name,
                          e.source_offset) for i, e in enumerate(block.events)],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "merkle_tiles",
                columns=["shard", "tile_level", "tile_index", "width", "hashes"],
                records=[(block.shard, t.tile_level, t.tile_index, t.width, t.hashes) for t in block.tiles],
            )
            ids = await _insert_lineage(conn, block, known)
            await advance_offset(conn, block.shard, expected_offset, block.next_offset, None)
        if not conn.is_in_transaction():  # committed, not a savepoint of a caller's transaction
            known.learn(ids)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name in ("blocks_pkey", "blocks_shard_tree_size_key"):
            raise StaleShard(f"shard {block.shard} already has a block at height {header.height}") from exc
        if exc.constraint_name == "events_pkey":
            # The same event arrived on two partitions and another shard's block committed it
            # first, after this block's dedupe read. Nothing was written; sealing again reads it
            # as sealed and drops (or dead-letters) this copy.
            raise StaleShard(
                f"an event of shard {block.shard}'s block at height {header.height} was sealed "
                "concurrently on another shard"
            ) from exc
        raise


async def _insert_block(conn: Conn, block: SealedBlock) -> None:
    h = block.header
    await conn.execute(
        "INSERT INTO blocks (shard, height, block_hash, prev_block_hash, header, signature, key_id, "
        "batch_root, tree_size, log_root, first_offset, last_offset, event_count, min_event_time, "
        "max_event_time, sealed_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        block.shard, h.height, block.block_hash, h.prev_block_hash, block.header_bytes, block.signature,
        h.key_id, h.batch_root, h.tree_size, h.log_root, h.first_offset, h.last_offset, h.event_count,
        time_from_micros(h.min_event_time), time_from_micros(h.max_event_time), time_from_micros(h.sealed_at),
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO shard_checkpoints (shard, height, tree_size, note) VALUES ($1, $2, $3, $4)",
        block.shard, h.height, h.tree_size, block.checkpoint,
    )  # fmt: skip


async def _insert_lineage(conn: Conn, block: SealedBlock, known: ArtifactIds) -> dict[Key, int]:
    """Runs, artifacts and edges of ``block``; the artifact ids it used, to remember once committed."""
    if block.runs:
        await conn.execute(
            "INSERT INTO runs (run_id, parent_run_id, job_namespace, job_name, first_seen) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) "
            "ON CONFLICT (run_id) DO NOTHING",
            [r.run_id for r in block.runs], [r.parent_run_id for r in block.runs],
            [r.job_namespace for r in block.runs], [r.job_name for r in block.runs],
            [time_from_micros(r.first_seen) for r in block.runs],
        )  # fmt: skip
    if not block.lineage:
        return {}
    sealed_at = time_from_micros(block.header.sealed_at)
    ids = await artifact_ids(conn, [e.artifact for e in block.lineage], known, sealed_at)
    await conn.copy_records_to_table(
        "lineage_edges",
        columns=["relation", "run_id", "artifact_id", "event_id", "recorded_at"],
        records=[(e.relation, e.run_id, ids[e.artifact[:3]], e.event_id, sealed_at) for e in block.lineage],
    )
    return ids


#: Why a batch's offsets were passed without a block, when the caller does not say more precisely:
#: every record in it was dead-lettered or already sealed (:func:`advance_offset` records it).
UNSEALED_REASON = "dead-lettered-or-duplicate"
#: Why offsets were passed that the source never delivered (the reason migration 0010 records
#: for a block starting past the shard's offset, too).
MISSING_FROM_SOURCE = "missing-from-source"


async def advance_offset(
    conn: Conn, shard: int, expected: int, next_offset: int, reason: str | None = UNSEALED_REASON
) -> None:
    """Move the shard's committed source offset from ``expected`` to ``next_offset`` (compare-and-set).

    One call of ``provledger_advance_offset`` (migration 0010), the only way the sealer's login
    may write ``consumer_offsets``: it refuses to go back, and offsets that the shard's newest
    block does not cover are recorded in ``skipped_offsets`` with ``reason`` (``None`` refuses
    such a skip: :func:`write_block` passes it, since its block must cover what it advances).
    Used alone when a batch held nothing to seal (all rejected or duplicates), so those records
    are not read and dead-lettered again after a restart.
    """
    moved = await conn.fetchval(
        "SELECT provledger_advance_offset($1, $2, $3, $4)", shard, expected, next_offset, reason
    )
    if not moved:
        raise StaleShard(f"shard {shard} was no longer at offset {expected}: another sealer advanced it")
