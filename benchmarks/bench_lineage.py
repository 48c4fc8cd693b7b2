"""Lineage walk latency over >= 10^5 edges, beside a primary-key SELECT through the same pool.

Builds an ML-shaped graph in a fresh embedded Postgres (from ``provledger.local``) with COPY:
raw datasets -> feature runs -> feature sets -> training runs -> checkpoints and models ->
deployment runs -> endpoints, inputs picked with a skew so a few datasets feed many runs (the
hubs that make real lineage graphs wide), and every run's inputs recorded twice (START and
COMPLETE), as the sealer records them. Then, in one run on one pool, it times:

* ``walk_lineage`` upstream, depth 5, from random models (where did this model come from?);
* ``walk_lineage`` both ways, depth 5, from random feature sets (hubs: often cut at the cap);
* ``SELECT ... FROM artifacts WHERE artifact_id = $1``, the floor of one pooled round trip.

Each is driven by ``--concurrency`` tasks sharing the pool; latency is per call, requests/s
over the whole phase. Target: lineage p99 under 50 ms at 2 cores.

Usage: ``python benchmarks/bench_lineage.py [--runs N] [--requests N] [--concurrency N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from provledger.local import local_servers
from provledger.store.lineage import Direction, NodeRef
from provledger.store.migrate import migrate_database
from provledger.store.walk import walk_lineage
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "lineage.json"
SEED = 20261124
T0 = datetime(2026, 11, 24, tzinfo=UTC)
#: Runs per stage, as fractions of --runs: features, training, deployment.
STAGES = (0.3, 0.5, 0.2)


class Graph:
    """Rows to COPY, built in memory: artifacts, runs, events and edges."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.artifacts: list[tuple[Any, ...]] = []
        self.runs: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.edges: list[tuple[Any, ...]] = []

    def artifact(self, namespace: str, kind: str) -> int:
        artifact_id = len(self.artifacts) + 1
        digest = "sha256:" + self.rng.randbytes(32).hex()
        self.artifacts.append((artifact_id, namespace, f"{kind}-{artifact_id}", digest, kind, None, T0))
        return artifact_id

    def run(self, job: str, inputs: list[int], outputs: list[int]) -> None:
        run_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        at = T0 + timedelta(seconds=len(self.runs))
        self.runs.append((run_id, None, "bench", job, at))
        for event_type, sides in (
            ("START", [("used", inputs)]),
            ("COMPLETE", [("used", inputs), ("generated", outputs)]),
        ):
            event_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
            leaf = len(self.events)
            digest = self.rng.randbytes(32)
            self.events.append(
                (event_id, 0, leaf, 0, digest, b"bench", at, event_type, run_id, "bench", job, leaf)
            )
            for relation, ids in sides:
                self.edges += [(relation, run_id, artifact_id, event_id, at) for artifact_id in ids]

    def pick(self, pool: list[int], count: int) -> list[int]:
        """``count`` distinct artifacts, skewed towards the start of ``pool`` (popular ones)."""
        return list({pool[int(len(pool) * self.rng.random() ** 3)] for _ in range(count)})


def build(runs: int, rng: random.Random) -> tuple[Graph, list[int], list[int]]:
    graph = Graph(rng)
    raw = [graph.artifact("lake", "dataset") for _ in range(max(10, runs // 20))]
    features: list[int] = []
    for _ in range(int(runs * STAGES[0])):
        out = graph.artifact("features", "dataset")
        graph.run("features", graph.pick(raw, 3), [out])
        features.append(out)
    models: list[int] = []
    checkpoints: list[int] = []
    for _ in range(int(runs * STAGES[1])):
        resume = graph.pick(checkpoints, 1) if checkpoints and rng.random() < 0.3 else []
        ckpt, model = graph.artifact("models", "checkpoint"), graph.artifact("models", "model")
        graph.run("train", graph.pick(features, 3) + resume, [ckpt, model])
        checkpoints.append(ckpt)
        models.append(model)
    for _ in range(int(runs * STAGES[2])):
        graph.run("deploy", graph.pick(models, 1), [graph.artifact("serving", "endpoint")])
    return graph, features, models


async def load(dsn: str, graph: Graph) -> float:
    """COPY everything in; seconds taken."""
    start = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        shard = await conn.fetchval(
            "INSERT INTO shards (topic, partition) VALUES ('bench', 0) RETURNING shard"
        )
        await conn.execute(
            "INSERT INTO blocks VALUES ($1, 0, $2, $3, 'x', $4, 'abcd', $2, $5, $2, 0, $6, $8, $7, $7, $7)",
            shard, bytes(range(32)), bytes(32), bytes(64), len(graph.events), len(graph.events) - 1, T0,
            len(graph.events),
        )  # fmt: skip
        await conn.copy_records_to_table(
            "artifacts",
            records=graph.artifacts,
            columns=["artifact_id", "namespace", "name", "digest", "kind", "version", "first_seen"],
        )
        await conn.copy_records_to_table(
            "runs",
            records=graph.runs,
            columns=["run_id", "parent_run_id", "job_namespace", "job_name", "first_seen"],
        )
        await conn.copy_records_to_table("events", records=graph.events)
        await conn.copy_records_to_table(
            "lineage_edges", records=graph.edges,
            columns=["relation", "run_id", "artifact_id", "event_id", "recorded_at"],
        )  # fmt: skip
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - start


async def timed(
    requests: int, concurrency: int, call: Callable[[int], Awaitable[object]]
) -> tuple[list[float], float]:
    """Per-call latencies (s) of ``requests`` calls by ``concurrency`` tasks, and the wall time."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            start = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


async def measure(dsn: str, args: argparse.Namespace, features: list[int], models: list[int]) -> list[Figure]:
    rng = random.Random(SEED + 1)
    pool = await asyncpg.create_pool(dsn, min_size=args.concurrency, max_size=args.concurrency)
    assert pool is not None
    sizes: list[int] = []
    truncated = 0

    async def pk(i: int) -> object:
        async with pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT artifact_id, namespace, name, digest, kind, version, first_seen FROM artifacts "
                "WHERE artifact_id = $1",
                rng.choice(models),
            )

    def walk(direction: Direction, roots: list[int]) -> Callable[[int], Awaitable[object]]:
        async def call(i: int) -> object:
            nonlocal truncated
            async with pool.acquire() as conn:
                graph = await walk_lineage(conn, [NodeRef.artifact(rng.choice(roots))], direction, depth=5)
            sizes.append(len(graph.nodes) + len(graph.edges))
            truncated += graph.truncated
            return graph

        return call

    try:
        await timed(200, args.concurrency, walk(Direction.BOTH, features))  # warm caches and plans
        await timed(200, args.concurrency, pk)
        pk_lat, pk_wall = await timed(args.requests, args.concurrency, pk)
        up_lat, up_wall = await timed(args.requests, args.concurrency, walk(Direction.UPSTREAM, models))
        up_sizes, sizes[:] = sizes[:], []
        both_lat, both_wall = await timed(args.requests, args.concurrency, walk(Direction.BOTH, features))
    finally:
        await pool.close()
    ms = 1000.0
    print(f"upstream graphs: mean {statistics.mean(up_sizes):.0f} nodes+edges; "
          f"both-way graphs from feature sets: mean {statistics.mean(sizes):.0f}, "
          f"{truncated} of {args.requests} cut at 500 nodes")  # fmt: skip
    pk_p50, pk_p99 = percentile(pk_lat, 0.5) * ms, percentile(pk_lat, 0.99) * ms
    figures = [Figure("primary-key SELECT p50", pk_p50, "ms"), Figure("primary-key SELECT p99", pk_p99, "ms"),
               Figure("primary-key SELECT", args.requests / pk_wall, "req/s")]  # fmt: skip
    for label, lat, wall in (("upstream depth 5 (model)", up_lat, up_wall),
                             ("both ways depth 5 (feature set)", both_lat, both_wall)):  # fmt: skip
        figures += [
            Figure(f"{label} p50", percentile(lat, 0.5) * ms, "ms", pk_p50, "PK SELECT p50"),
            Figure(f"{label} p99", percentile(lat, 0.99) * ms, "ms", pk_p99, "PK SELECT p99"),
            Figure(label, args.requests / wall, "req/s", args.requests / pk_wall, "PK SELECT req/s"),
        ]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30_000, help="runs in the graph (about 4 edges each)")
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per measure")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks (and pooled connections)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the summary")
    args = parser.parse_args()
    graph, features, models = build(args.runs, random.Random(SEED))
    print(f"graph: {len(graph.artifacts):,} artifacts, {len(graph.runs):,} runs, "
          f"{len(graph.events):,} events, {len(graph.edges):,} edges")  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as data_dir,
        local_servers(data_dir=Path(data_dir), durable=False) as servers,
    ):
        asyncio.run(migrate_database(servers.database_url))
        seconds = asyncio.run(load(servers.database_url, graph))
        print(f"loaded with COPY in {seconds:.1f} s")
        figures = asyncio.run(measure(servers.database_url, args, features, models))
    print_figures("lineage walks beside a primary-key SELECT (same pool, same run; 2 shared cores)", figures)
    write_summary(args.json, "lineage", figures, runs=args.runs, edges=len(graph.edges),
                  artifacts=len(graph.artifacts), requests=args.requests,
                  concurrency=args.concurrency)  # fmt: skip


if __name__ == "__main__":
    main()
