"""Blocks written to the real Postgres: resumable heads, proofs that verify, no forks."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
import uuid

import asyncpg
import pytest

from provledger.errors import StaleShard
from provledger.events.rows import ArtifactKey, EventRow
from provledger.ledger.block import BlockHeader, verify_chain
from provledger.ledger.checkpoint import open_checkpoint, shard_checkpoint
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from provledger.sealer.shardlog import ShardLog
from provledger.store.artifacts import ArtifactIds
from provledger.store.blocks import ensure_shard, load_head, write_block
from provledger.store.tiles import consistency_proof, inclusion_proof

LOG_ORIGIN = "test.example/ledger"
KEY = SigningKey.generate("test.example/ledger")
DATASET = ArtifactKey("s3://lake", "imagenet", "sha256:" + "ab" * 32, "dataset")
MODEL = ArtifactKey("models", "resnet", "sha256:" + "cd" * 32, "model")


def _events(count: int, first_offset: int, outputs: tuple[ArtifactKey, ...] = (MODEL,)) -> list[EventRow]:
    events = []
    for i in range(count):
        canonical = f"event {first_offset + i}".encode()
        run = str(uuid.UUID(int=(first_offset + i) // 10))
        moment = 1_700_000_000_000_000 + i
        events.append(
            EventRow(str(uuid.uuid4()), canonical, leaf_hash(canonical), moment, "COMPLETE", run, None,
                     "vision", "train", (DATASET,), outputs, first_offset + i)
        )  # fmt: skip
    return events


async def _seal(
    conn: asyncpg.Connection,
    log: ShardLog,
    count: int,
    artifacts: ArtifactIds | None = None,
    outputs: tuple[ArtifactKey, ...] = (MODEL,),
) -> BlockHeader:
    first = log.next_offset
    expected = log.next_offset
    block = log.seal(_events(count, first, outputs), first, first + count - 1, KEY, 1_700_000_000_000_000)
    await write_block(conn, block, expected, artifacts)
    return block.header


async def test_blocks_resume_and_prove(conn: asyncpg.Connection) -> None:
    shard = await ensure_shard(conn, "provledger.events", 0)
    assert await ensure_shard(conn, "provledger.events", 0) == shard
    rng = random.Random(7)
    headers: list[BlockHeader] = []
    for _ in range(8):
        log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)  # reload each time: resume must be exact
        headers.append(await _seal(conn, log, rng.randint(1, 900)))
    verify_chain(headers)
    rows = await conn.fetch("SELECT leaf_hash FROM events WHERE shard = $1 ORDER BY leaf_index", shard)
    leaves = [bytes(r["leaf_hash"]) for r in rows]
    assert len(leaves) == headers[-1].tree_size
    for header in headers:
        assert header.log_root == root(leaves[: header.tree_size])
        for index in rng.sample(range(header.tree_size), 5):
            proof = await inclusion_proof(conn, shard, index, header.tree_size)
            verify_inclusion(leaves[index], index, header.tree_size, proof, header.log_root)
    notes = await conn.fetch("SELECT height, tree_size, note FROM shard_checkpoints WHERE shard = $1", shard)
    assert [(r["height"], r["tree_size"]) for r in notes] == [(h.height, h.tree_size) for h in headers]
    for header, row in zip(headers, notes, strict=True):
        assert open_checkpoint(row["note"], [KEY.verifier]) == shard_checkpoint(LOG_ORIGIN, header)
    for old, new in itertools.pairwise(headers):
        proof = await consistency_proof(conn, shard, old.tree_size, new.tree_size)
        verify_consistency(old.tree_size, new.tree_size, old.log_root, new.log_root, proof)
    head = await load_head(conn, shard)
    assert (head.next_height, head.tree_size, head.next_offset) == (
        8,
        headers[-1].tree_size,
        headers[-1].last_offset + 1,
    )


async def test_lineage_rows_follow_the_events(conn: asyncpg.Connection) -> None:
    shard = await ensure_shard(conn, "provledger.events", 3)
    log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
    events = _events(20, 0)  # two runs of ten events, each using DATASET and generating MODEL
    await write_block(conn, log.seal(events, 0, 19, KEY, 1_700_000_000_000_000), 0)
    assert await conn.fetchval("SELECT count(*) FROM artifacts") == 2
    assert await conn.fetchval("SELECT count(*) FROM runs") == 2
    # One edge per (relation, run, artifact) in a block, naming the first event that records it.
    edges = await conn.fetch(
        "SELECT relation, run_id, a.name, event_id FROM lineage_edges JOIN artifacts a USING (artifact_id) "
        "ORDER BY relation, run_id"
    )
    first_of_run = {events[0].run_id: events[0].event_id, events[10].run_id: events[10].event_id}
    assert [(r["relation"], r["run_id"], r["name"], str(r["event_id"])) for r in edges] == [
        (relation, run, artifact.name, first_of_run[run])
        for relation, artifact in (("generated", MODEL), ("used", DATASET))
        for run in sorted(first_of_run)
    ]


async def test_a_zombie_sealer_cannot_fork_the_shard(conn: asyncpg.Connection) -> None:
    shard = await ensure_shard(conn, "provledger.events", 1)
    await _seal(conn, ShardLog(await load_head(conn, shard), LOG_ORIGIN), 10)
    head = await load_head(conn, shard)
    owner, zombie = ShardLog(head, LOG_ORIGIN), ShardLog(head, LOG_ORIGIN)
    await _seal(conn, owner, 5)
    with pytest.raises(StaleShard, match="already has a block at height 1"):
        await _seal(conn, zombie, 7)
    assert await conn.fetchval("SELECT count(*) FROM blocks WHERE shard = $1", shard) == 2
    assert await conn.fetchval("SELECT count(*) FROM events WHERE shard = $1", shard) == 15
    resumed = ShardLog(await load_head(conn, shard), LOG_ORIGIN)  # the loser reloads and goes on
    assert (await _seal(conn, resumed, 3)).height == 2


def _artifact(name: str) -> ArtifactKey:
    return ArtifactKey("models", name, "sha256:" + hashlib.sha256(name.encode()).hexdigest(), "checkpoint")


async def _edges_by_name(conn: asyncpg.Connection) -> dict[str, int]:
    """Edges per artifact name, through the artifact ids they hold: an edge with a wrong id is lost."""
    rows = await conn.fetch(
        "SELECT a.name, count(*) AS edges FROM lineage_edges JOIN artifacts a USING (artifact_id) "
        "GROUP BY a.name"
    )
    return {r["name"]: r["edges"] for r in rows}


async def test_artifacts_written_before_are_found_without_remembering_them(conn: asyncpg.Connection) -> None:
    shard = await ensure_shard(conn, "provledger.events", 4)
    await _seal(conn, ShardLog(await load_head(conn, shard), LOG_ORIGIN), 10, ArtifactIds())
    # Another writer (or this one after a restart) names the same dataset and model, and a new
    # artifact: its copy of the new artifacts conflicts, and the upsert decides.
    first_ckpt = _artifact("ckpt-1")
    log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
    await _seal(conn, log, 10, ArtifactIds(), outputs=(MODEL, first_ckpt))
    assert await conn.fetchval("SELECT count(*) FROM artifacts") == 3
    assert await _edges_by_name(conn) == {"imagenet": 2, "resnet": 2, "ckpt-1": 1}


async def test_only_committed_artifact_ids_are_remembered(conn: asyncpg.Connection) -> None:
    shard = await ensure_shard(conn, "provledger.events", 5)
    artifacts = ArtifactIds()
    await _seal(conn, ShardLog(await load_head(conn, shard), LOG_ORIGIN), 10, artifacts)
    head = await load_head(conn, shard)
    owner, zombie = ShardLog(head, LOG_ORIGIN), ShardLog(head, LOG_ORIGIN)
    await _seal(conn, owner, 5, artifacts)
    lost = _artifact("only-in-the-losing-block")
    with pytest.raises(StaleShard):
        await _seal(conn, zombie, 5, artifacts, outputs=(lost,))
    assert artifacts.lookup({lost[:3]}) == {}
    # The same in a caller's transaction that rolls back: write_block's is only a savepoint.
    rolled_back = _artifact("rolled-back")
    log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
    with contextlib.suppress(RuntimeError):
        async with conn.transaction():
            await _seal(conn, log, 5, artifacts, outputs=(rolled_back,))
            raise RuntimeError("the caller gives up")
    assert artifacts.lookup({rolled_back[:3]}) == {}
    assert MODEL[:3] in artifacts.lookup({MODEL[:3]})
    # Sealed for real later, both are written, and every edge finds its artifact.
    resumed = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
    await _seal(conn, resumed, 5, artifacts, outputs=(lost, rolled_back))
    assert await conn.fetchval("SELECT count(*) FROM artifacts") == 4
    assert await _edges_by_name(conn) == {
        "imagenet": 3,
        "resnet": 2,
        "only-in-the-losing-block": 1,
        "rolled-back": 1,
    }
