"""A known ML lineage graph, sealed into a real database the way the sealer seals events.

    raw-images ──used──▶ features-run ──generated──▶ features
    features ──used──▶ train-1 ──generated──▶ ckpt-1, model-1
    features, ckpt-1 ──used──▶ train-2 ──generated──▶ ckpt-2, model-2;  ckpt-2 ──derived_from──▶ model-2
    model-2 ──used──▶ deploy ──generated──▶ endpoint

Three blocks sealed at T1 < T2 < T3 (so ``as_of`` between them sees the graph grow): block 1
holds the feature run's START and COMPLETE (both naming its input: one logical edge, two
records), block 2 the first training run, block 3 the second training run and the deployment.
The sealer writes no ``derived_from`` edges yet, so that one is inserted as a row of block 3.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from provledger.events.model import time_from_micros
from provledger.events.rows import ArtifactKey, EventRow
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import leaf_hash
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block

LOG_ORIGIN = "test.example/lineage"
KEY = SigningKey.from_seed("test.example/lineage", b"\x07" * 32)
T1, T2, T3 = (1_790_000_000_000_000 + i * 60_000_000 for i in range(3))


def artifact(namespace: str, name: str, kind: str) -> ArtifactKey:
    return ArtifactKey(namespace, name, "sha256:" + hashlib.sha256(name.encode()).hexdigest(), kind)


RAW = artifact("s3://lake", "raw-images", "dataset")
FEATURES = artifact("s3://lake", "features", "dataset")
CKPT_1 = artifact("models", "ckpt-1", "checkpoint")
MODEL_1 = artifact("models", "model-1", "model")
CKPT_2 = artifact("models", "ckpt-2", "checkpoint")
MODEL_2 = artifact("models", "model-2", "model")
ENDPOINT = artifact("serving", "endpoint", "deployment")
ARTIFACTS = (RAW, FEATURES, CKPT_1, MODEL_1, CKPT_2, MODEL_2, ENDPOINT)

FEATURE_RUN = "00000000-0000-4000-8000-000000000001"
TRAIN_1 = "00000000-0000-4000-8000-000000000002"
TRAIN_2 = "00000000-0000-4000-8000-000000000003"
DEPLOY = "00000000-0000-4000-8000-000000000004"
JOBS = {FEATURE_RUN: ("etl", "features"), TRAIN_1: ("ml", "train"), TRAIN_2: ("ml", "train"),
        DEPLOY: ("serving", "deploy")}  # fmt: skip


@dataclass(frozen=True)
class DemoGraph:
    """Artifact ids by artifact, and the seal times of the three blocks."""

    ids: dict[ArtifactKey, int]
    sealed: tuple[datetime, datetime, datetime]

    def __getitem__(self, key: ArtifactKey) -> int:
        return self.ids[key]


def event(
    run_id: str, event_type: str, inputs: tuple[ArtifactKey, ...], outputs: tuple[ArtifactKey, ...], at: int
) -> EventRow:
    """An accepted event of ``run_id`` (of its job in :data:`JOBS`, else ``test/step``)."""
    event_id = str(uuid.uuid4())
    canonical = f"{event_id} {run_id} {event_type}".encode()
    namespace, name = JOBS.get(run_id, ("test", "step"))
    return EventRow(event_id, canonical, leaf_hash(canonical), at, event_type, run_id, None, namespace, name,
                    inputs, outputs, 0)  # fmt: skip


async def seal(conn: asyncpg.Connection, shard: int, events: list[EventRow], sealed_at: int) -> None:
    """Seal ``events`` as the shard's next block, exactly as the sealer writes one."""
    log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
    first = log.next_offset
    events = [e._replace(source_offset=first + i) for i, e in enumerate(events)]
    block = log.seal(events, first, first + len(events) - 1, KEY, sealed_at)
    await write_block(conn, block, first)


async def seal_demo_graph(conn: asyncpg.Connection) -> DemoGraph:
    """Seal the graph of the module docstring into the database ``conn`` is connected to."""
    shard = await ensure_shard(conn, "provledger.events", 0)
    await seal(conn, shard, [event(FEATURE_RUN, "START", (RAW,), (), T1 - 9),
                             event(FEATURE_RUN, "COMPLETE", (RAW,), (FEATURES,), T1 - 5)], T1)  # fmt: skip
    await seal(conn, shard, [event(TRAIN_1, "COMPLETE", (FEATURES,), (CKPT_1, MODEL_1), T2 - 5)], T2)
    train_2 = event(TRAIN_2, "COMPLETE", (FEATURES, CKPT_1), (CKPT_2, MODEL_2), T3 - 7)
    await seal(conn, shard, [train_2, event(DEPLOY, "COMPLETE", (MODEL_2,), (ENDPOINT,), T3 - 3)], T3)
    rows = await conn.fetch("SELECT artifact_id, namespace, name FROM artifacts")
    by_name = {(r["namespace"], r["name"]): r["artifact_id"] for r in rows}
    ids = {a: by_name[(a.namespace, a.name)] for a in ARTIFACTS}
    await conn.execute(
        "INSERT INTO lineage_edges (relation, run_id, artifact_id, source_artifact, event_id, recorded_at) "
        "VALUES ('derived_from', NULL, $1, $2, $3, $4)",
        ids[MODEL_2], ids[CKPT_2], train_2.event_id, time_from_micros(T3),
    )  # fmt: skip
    return DemoGraph(ids, (time_from_micros(T1), time_from_micros(T2), time_from_micros(T3)))
