"""The anchorer (issue 17): CPU per tick, event to anchored receipt, and what it costs the sealer.

Measured in one run, against one Postgres, one broker and a local RFC 3161 TSA (``openssl ts``
behind HTTP, :mod:`provledger.local.tsa`), each figure beside a baseline from the same run:

* ``ticks``: **CPU per tick** of :meth:`provledger.anchor.service.Anchorer.tick` in this process
  (``time.process_time``: the checks, signing, the TSA round trip's token check, publishing), at
  ``--shards`` shards (4, 64, 1,024), with every shard moved by ``--moved-blocks`` blocks since the
  last statement and with nothing moved. Blocks are sealed straight into the store by the
  sealer's own ``ShardLog`` and ``write_block``, as ``bench_audit.py`` does. Baseline: the least
  any tick must do, in the same state: read the newest statement, every shard's newest block and
  the headers between in one query each, and check each moved head's signature.
  ``--profile`` prints where a tick at the largest shard count spends its time (cProfile).
* ``latency``: **event_time to anchored receipt**, p50/p99, with the real pipeline: the SDK emits
  ``--rate`` events/s for ``--latency-seconds`` into the broker, a ``provledger sealer`` seals
  them, a ``provledger anchorer`` with the local TSA anchors every ``--interval`` s. An event's
  receipt is the ``rfc3161`` receipt of the earliest statement whose head for its shard reaches
  its block (what its evidence bundle links to), timed by the receipt's ``stored_at``. Baseline:
  the same events' seal latency (``event_time`` to ``sealed_at``). Target: p99 under interval + 2 s.
* ``throughput``: **the sealer's events/s with and without the anchorer running**, in
  ``--pairs`` pairs of runs over the same backlog, each run on a fresh database, the order
  alternating from pair to pair so that drift in the machine's speed falls on both sides alike
  (rates from the blocks' own ``sealed_at``, as ``bench_seal.py`` reads them; the target is
  read on the rate to drain the backlog, the same backlog on both sides). Target: within 2%.

Every phase is a function in :data:`PHASES` taking the shared :class:`Bench` and returning its
figures; ``--phases`` picks some. The fourth, ``evidence``, is in ``bench_anchor_evidence.py``: the
evidence endpoint's p50/p99 with anchor links at 10^6 events beside the same before anchoring,
and ``provledger verify``'s checks on a bundle with an rfc3161 receipt beside the same without.

Usage::

    .venv/bin/python benchmarks/bench_anchor.py            # every phase, about ten minutes on 2 cores
    .venv/bin/python benchmarks/bench_anchor.py --quick    # small sizes: a smoke test, about two minutes
    .venv/bin/python benchmarks/bench_anchor.py --phases ticks --shards 1024 --profile 25

Servers are ``PROVLEDGER_DATABASE_URL`` / ``PROVLEDGER_KAFKA_BOOTSTRAP`` when set, else embedded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench_anchor_evidence import EvidenceOptions
from bench_anchor_evidence import measure_all as measure_evidence
from bench_audit import synthetic_events
from bench_seal import (
    Rates,
    bench_servers,
    create_database,
    create_topic,
    drop_databases,
    emit,
    seal_latency,
    sealer,
    sealing_rates,
    service_process,
    wait_sealed,
    warm_up,
)
from cpu import CpuMeter
from provledger import logs
from provledger.anchor.kinds import AnchorKind
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.rfc3161 import make_kind
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.anchor.topic import CheckpointTopic
from provledger.config import AnchorerSettings, SealerSettings, load
from provledger.events.rows import ShardState
from provledger.keyfiles import generate_key_file
from provledger.ledger.block import GENESIS_PREV_HASH, BlockHeader, verify_header_signature
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.keys import SigningKey
from provledger.local import LocalServers
from provledger.local.probes import run_blocking
from provledger.local.process import ManagedProcess
from provledger.local.tsa import LocalTsa, local_tsa
from provledger.sealer.shardlog import ShardLog
from provledger.store import anchors
from provledger.store.blocks import ensure_shard, write_block
from provledger.store.db import create_pool
from provledger.store.keys import load_keyset, register_key
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "anchor.json"
#: The heartbeat is kept out of the way: a tick with nothing moved must sign nothing.
HEARTBEAT_S = 86_400.0
#: How long the last events may take to be anchored after the traffic ends, past one interval.
ANCHOR_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Bench:
    """What every phase shares: the options, the servers, a scratch folder, the keys and the TSA."""

    args: argparse.Namespace
    servers: LocalServers
    folder: Path
    tsa: LocalTsa
    sealer_key_file: Path
    anchorer_key_file: Path

    @property
    def log_origin(self) -> str:
        return load(SealerSettings).log_origin

    def anchorer_env(self, database_url: str, checkpoints: str, interval_s: float) -> dict[str, str]:
        """A ``provledger anchorer``'s settings: this run's servers, its own key, the local TSA."""
        return {
            "PROVLEDGER_DATABASE_URL": database_url,
            "PROVLEDGER_KAFKA_BOOTSTRAP": self.servers.kafka_bootstrap,
            "PROVLEDGER_TOPIC_CHECKPOINTS": checkpoints,
            "PROVLEDGER_ANCHORER_KEY_FILE": str(self.anchorer_key_file),
            "PROVLEDGER_ANCHOR_KINDS": "rfc3161",
            "PROVLEDGER_TSA_URLS": self.tsa.url,
            "PROVLEDGER_TSA_ROOTS_FILE": str(self.tsa.roots_file),
            "PROVLEDGER_ANCHOR_INTERVAL_S": str(interval_s),
            "PROVLEDGER_ANCHOR_HEARTBEAT_S": str(HEARTBEAT_S),
        }


def _unique(what: str) -> str:
    return f"bench.{uuid.uuid4().hex[:8]}.{what}"


def _ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


# ticks: CPU per tick at 4, 64 and 1,024 shards. --------------------------------------------------


class Ledger:
    """``shards`` shards sealed straight into the store, each as the sealer would, a round at a time."""

    def __init__(self, conn: asyncpg.Connection, key: SigningKey, origin: str, logs: list[ShardLog]) -> None:
        self.conn, self.key, self.origin, self.logs = conn, key, origin, logs
        self._clock = time.time_ns() // 1000

    @classmethod
    async def create(cls, conn: asyncpg.Connection, key: SigningKey, origin: str, shards: int) -> Ledger:
        await register_key(conn, key.verifier, 0)
        logs = []
        for partition in range(shards):
            shard = await ensure_shard(conn, "provledger.events", partition)
            logs.append(ShardLog(ShardState(shard, 0, GENESIS_PREV_HASH, 0, 0, (), ()), origin))
        return cls(conn, key, origin, logs)

    async def seal_round(self, blocks: int, events: int) -> None:
        """Seal ``blocks`` blocks of ``events`` events on every shard."""
        for log in self.logs:
            for _ in range(blocks):
                first = log.next_offset
                self._clock += 1
                block = log.seal(
                    synthetic_events(first, events), first, first + events - 1, self.key, self._clock
                )
                await write_block(self.conn, block, first)


async def _floor(conn: asyncpg.Connection, moved: bool) -> None:
    """The least a tick must do: read the newest statement and every shard's head.

    When heads ``moved``, also read the headers between the anchored heads and the new ones (one
    query for every shard) and check each new head's signature.
    """
    latest = await anchors.latest_statement(conn)
    heads = await anchors.newest_blocks(conn)
    if not moved or latest is None:
        return
    anchored = latest.heads
    await conn.fetch(
        "SELECT b.shard, b.height, b.block_hash, b.header, b.signature, b.tree_size, b.log_root "
        "FROM blocks b JOIN unnest($1::int[], $2::bigint[]) AS a(shard, height) "
        "ON b.shard = a.shard AND b.height >= a.height ORDER BY b.shard, b.height",
        [h.shard for h in anchored],
        [h.height for h in anchored],
    )
    keyset = await load_keyset(conn)
    for head in heads:
        verify_header_signature(BlockHeader.from_bytes(head.header), head.signature, keyset)


async def _cpu(work: Awaitable[None]) -> tuple[float, float]:
    """CPU seconds of this process, and wall seconds, while ``work`` runs."""
    cpu, wall = time.process_time(), time.perf_counter()
    await work
    return time.process_time() - cpu, time.perf_counter() - wall


class TimedKind:
    """An anchor kind that adds up the CPU seconds this process spends in its ``publish``.

    Measured across the awaits, so while the TSA answers another task could run: in the ticks
    phase none does (the tick is all this process runs).
    """

    def __init__(self, kind: AnchorKind) -> None:
        self.kind = kind
        self.cpu_s = 0.0

    @property
    def name(self) -> str:
        return self.kind.name

    async def publish(self, statement: str) -> dict[str, Any]:
        started = time.process_time()
        try:
            return await self.kind.publish(statement)
        finally:
            self.cpu_s += time.process_time() - started

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        return self.kind.verify(receipt, evidence)


@contextlib.asynccontextmanager
async def _anchorer(bench: Bench, database_url: str, kind: AnchorKind) -> AsyncIterator[Anchorer]:
    """An active anchorer in this process: its own pool, a fresh checkpoints topic, the local TSA."""
    pool = await create_pool(database_url)
    topic = CheckpointTopic(bench.servers.kafka_bootstrap, _unique("checkpoints"), "bench")
    options = AnchorerOptions(bench.log_origin, bench.args.interval, HEARTBEAT_S)
    key = SigningKey.generate(load(AnchorerSettings).anchorer_key_name)
    try:
        anchorer = Anchorer(pool, key, [kind], topic, options, AnchorerMetrics((kind.name,)))
        await anchorer.take_over()
        yield anchorer
    finally:
        await topic.stop()
        await pool.close()


async def _ticks_at(bench: Bench, shards: int, profile: bool) -> list[Figure]:
    args = bench.args
    admin_url = bench.servers.database_url
    name = f"bench_anchor_{shards}"
    database_url = await create_database(admin_url, name)
    conn = await asyncpg.connect(database_url)
    moved_cpu, moved_wall, tsa_cpu, idle_cpu, floor_moved, floor_idle = [], [], [], [], [], []
    try:
        started = time.perf_counter()
        ledger = await Ledger.create(
            conn, SigningKey.generate("bench.provledger/sealer"), bench.log_origin, shards
        )
        await ledger.seal_round(1, args.block_events)
        tsa = TimedKind(make_kind(tsa_urls=bench.tsa.url, tsa_roots_file=bench.tsa.roots_file))
        async with _anchorer(bench, database_url, tsa) as anchorer:
            await anchorer.tick()  # the first statement: every shard new
            for _ in range(args.repeats):
                await ledger.seal_round(args.moved_blocks, args.block_events)
                floor_moved.append((await _cpu(_floor(conn, moved=True)))[0])
                tsa.cpu_s = 0.0
                cpu, wall = await _cpu(anchorer.tick())
                tsa_cpu.append(tsa.cpu_s)
                moved_cpu.append(cpu)
                moved_wall.append(wall)
                floor_idle.append((await _cpu(_floor(conn, moved=False)))[0])
                idle_cpu.append((await _cpu(anchorer.tick()))[0])
            if profile:
                await ledger.seal_round(args.moved_blocks, args.block_events)
                await _profiled_tick(anchorer, shards, args.profile)
            if anchorer.fork is not None:
                raise RuntimeError(
                    f"the anchorer found a fork in the benchmark's own ledger: {anchorer.fork}"
                )
        statements = await conn.fetchval("SELECT count(*) FROM checkpoints")
        expected = 1 + args.repeats + (1 if profile else 0)
        if statements != expected:
            raise RuntimeError(f"{statements} statements stored at {shards} shards, {expected} expected")
    finally:
        await conn.close()
        await drop_databases(admin_url, name)
    print(
        f"{shards:,} shards: {len(moved_cpu)} moved and idle ticks in {time.perf_counter() - started:.1f} s"
    )
    floor = "one read each + head signatures"
    return [
        Figure(f"tick CPU, {shards:,} shards moved {args.moved_blocks} blocks", _ms(moved_cpu), "ms",
               _ms(floor_moved), floor),
        Figure("  of which the RFC 3161 exchange (CPU)", _ms(tsa_cpu), "ms"),
        Figure(f"tick wall, {shards:,} shards moved", _ms(moved_wall), "ms"),
        Figure(f"tick CPU, {shards:,} shards, nothing moved", _ms(idle_cpu), "ms", _ms(floor_idle),
               "statement + heads read"),
    ]  # fmt: skip


async def _profiled_tick(anchorer: Anchorer, shards: int, top: int) -> None:
    """One more moved tick under cProfile (the event loop runs it on this thread); print the top."""
    profile = cProfile.Profile()
    profile.enable()
    await anchorer.tick()
    profile.disable()
    stats = pstats.Stats(profile, stream=sys.stdout)
    print(f"\nwhere a tick with {shards:,} moved shards spends its time (cProfile, this process)")
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


async def ticks(bench: Bench) -> list[Figure]:
    """The anchorer's CPU per tick at each of ``--shards``, moved and idle, beside the floor."""
    figures = []
    largest = max(bench.args.shards)
    for shards in bench.args.shards:
        figures += await _ticks_at(bench, shards, profile=bench.args.profile > 0 and shards == largest)
    return figures


# latency: event_time to anchored receipt through the real pipeline. ------------------------------


def anchorer_process(
    bench: Bench, database_url: str, interval_s: float
) -> contextlib.AbstractAsyncContextManager[tuple[str, ManagedProcess]]:
    """A ready ``provledger anchorer`` child on its own fresh checkpoints topic, stopped on exit."""
    env = bench.anchorer_env(database_url, _unique("checkpoints"), interval_s)
    return service_process(bench.folder, "anchorer", env, "PROVLEDGER_METRICS_PORT")


# Per block, the stored_at of the receipt of the earliest statement whose head for the block's
# shard reaches it (the statement its events' bundles link to); NULL while there is none.
_ANCHORED_BLOCKS = (
    "SELECT b.shard, b.height, (SELECT r.stored_at FROM checkpoint_heads h JOIN anchor_receipts r "
    "ON r.seq = h.seq AND r.kind = 'rfc3161' WHERE h.shard = b.shard AND h.height >= b.height "
    "ORDER BY h.height, h.seq LIMIT 1) AS anchored_at FROM blocks b"
)


async def wait_anchored(database_url: str, timeout_s: float) -> None:
    """Wait until every stored block is covered by a statement with a stored receipt."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        query = f"SELECT count(*) FROM ({_ANCHORED_BLOCKS}) a WHERE anchored_at IS NULL"
        while await conn.fetchval(query):
            if time.monotonic() > deadline:
                raise RuntimeError(f"blocks still unanchored after {timeout_s} s: see the anchorer's log")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def anchor_latencies(database_url: str) -> list[float]:
    """Seconds from each event's event_time to its anchored receipt's stored_at."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            f"WITH a AS ({_ANCHORED_BLOCKS}) SELECT extract(epoch FROM a.anchored_at - e.event_time) AS s "
            "FROM events e JOIN a USING (shard, height)"
        )
    finally:
        await conn.close()
    return [float(r["s"]) for r in rows]


async def latency(bench: Bench) -> list[Figure]:
    """Event to anchored receipt at ``--rate`` events/s through broker, sealer and anchorer."""
    args = bench.args
    admin_url, bootstrap = bench.servers.database_url, bench.servers.kafka_bootstrap
    database_url = await create_database(admin_url, "bench_anchor_latency")
    topic = _unique("live")
    await create_topic(bootstrap, topic)
    offered = int(args.rate * args.latency_seconds)
    async with (
        anchorer_process(bench, database_url, args.interval),
        sealer(bench.folder, database_url, bootstrap, topic, bench.sealer_key_file) as live,
    ):
        await live.wait_ready()
        achieved = await emit(bootstrap, topic, offered, args.rate)
        await wait_sealed(database_url, offered, 120)
        await wait_anchored(database_url, args.interval + ANCHOR_TIMEOUT_S)
    seconds = await anchor_latencies(database_url)
    seal_p50, seal_p99 = await seal_latency(database_url)
    await drop_databases(admin_url, "bench_anchor_latency")
    if len(seconds) != offered:
        raise RuntimeError(f"{len(seconds)} events anchored of {offered} sent")
    print(f"latency: {offered:,} events at {achieved:,.0f}/s sealed and anchored every {args.interval:g} s")
    target = f"seal latency, same events (target p99 < {args.interval + 2:g} s)"
    return [
        Figure(f"offered load achieved (target {args.rate:,}/s)", achieved, "events/s"),
        Figure("event to anchored receipt p50", _quantile(seconds, 0.50) * 1000, "ms", seal_p50 * 1000,
               "seal latency, same events"),
        Figure("event to anchored receipt p99", _quantile(seconds, 0.99) * 1000, "ms", seal_p99 * 1000,
               target),
        Figure("event to anchored receipt max", max(seconds) * 1000, "ms"),
    ]  # fmt: skip


# throughput: the sealer with and without the anchorer. -------------------------------------------


@dataclass(frozen=True)
class SealingRun:
    """One sealing of the backlog: its rates, and the anchorer's CPU share meanwhile."""

    rates: Rates
    anchorer_cpu_share: float


async def _sealing_run(bench: Bench, topic: str, with_anchorer: bool) -> SealingRun:
    """Seal the backlog on a fresh database, with an anchorer running or not."""
    args = bench.args
    admin_url, bootstrap = bench.servers.database_url, bench.servers.kafka_bootstrap
    database_url = await create_database(admin_url, "bench_anchor_throughput")
    async with contextlib.AsyncExitStack() as stack:
        anchorer = None
        if with_anchorer:  # ready (imports and all) before the sealer starts: only its ticks overlap
            _, anchorer = await stack.enter_async_context(
                anchorer_process(bench, database_url, args.throughput_interval)
            )
        process = await stack.enter_async_context(
            sealer(bench.folder, database_url, bootstrap, topic, bench.sealer_key_file)
        )
        await process.wait_ready()
        meter = CpuMeter({"anchorer": anchorer.pid} if anchorer else {})
        meter.start()
        started = time.perf_counter()
        await wait_sealed(database_url, args.events, 600)
        meter.stop()
        share = meter.used.get("anchorer", 0.0) / (time.perf_counter() - started)
        statements = await _count(database_url, "SELECT count(*) FROM checkpoints")
    rates = await sealing_rates(database_url)
    await drop_databases(admin_url, "bench_anchor_throughput")
    side = f"with the anchorer ({statements} statements, {share:.1%} of a core)" if anchorer else "without"
    print(f"  sealer {side}: {rates.drain:,.0f} events/s to drain, {rates.sustained:,.0f} sustained")
    return SealingRun(rates, share)


async def _count(database_url: str, query: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


def _paired(
    name: str, rate: Callable[[Rates], float], with_runs: list[SealingRun], without_runs: list[SealingRun]
) -> list[Figure]:
    """The medians of one rate with and without the anchorer, and the median of the pairs' ratios."""
    ratios = [rate(w.rates) / rate(wo.rates) for w, wo in zip(with_runs, without_runs, strict=True)]
    print(f"  {name}, with/without by pair: " + ", ".join(f"{r:.1%}" for r in ratios))
    with_rate = statistics.median(rate(r.rates) for r in with_runs)
    without_rate = statistics.median(rate(r.rates) for r in without_runs)
    return [
        Figure(f"sealer events/s {name}, anchorer running", with_rate, "events/s", without_rate,
               "no anchorer (target >= 98%)"),
        Figure(f"  {name}: with/without, median of pairs", statistics.median(ratios) * 100, "%"),
    ]  # fmt: skip


async def throughput(bench: Bench) -> list[Figure]:
    """The sealer's events/s with and without an anchorer, in alternating pairs.

    To drain (first block to last) is the figure the target is read on: both sides seal the same
    backlog, split over the partitions alike. Sustained (every shard sealing) is shown beside it,
    but on a small backlog its window holds a few blocks only.
    """
    args = bench.args
    bootstrap = bench.servers.kafka_bootstrap
    topic = _unique("backlog")
    await create_topic(bootstrap, topic)
    emitted = await emit(bootstrap, topic, args.events, None)
    print(f"throughput: {args.events:,} events emitted into {topic} at {emitted:,.0f}/s")
    await warm_up(
        bench.servers.database_url, bootstrap, topic, args.events, load(SealerSettings).batch_max_records
    )
    with_runs: list[SealingRun] = []
    without_runs: list[SealingRun] = []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        runs = {side: await _sealing_run(bench, topic, side) for side in order}
        with_runs.append(runs[True])
        without_runs.append(runs[False])
    share = statistics.median(r.anchorer_cpu_share for r in with_runs)
    return [
        *_paired("to drain", lambda r: r.drain, with_runs, without_runs),
        *_paired("sustained", lambda r: r.sustained, with_runs, without_runs),
        Figure(f"anchorer CPU while sealing, every {args.throughput_interval:g} s", share * 100, "% core"),
    ]


# evidence: the endpoint and verify, with anchor links (bench_anchor_evidence.py). -----------------


async def evidence(bench: Bench) -> list[Figure]:
    """The evidence endpoint before and after anchoring, and verify's checks, in a fresh database."""
    args, name = bench.args, "bench_anchor_evidence"
    options = EvidenceOptions(
        args.evidence_events, args.evidence_block, args.evidence_requests, 8, args.verifies
    )
    database_url = await create_database(bench.servers.database_url, name)
    try:
        return await measure_evidence(options, database_url, bench.tsa, bench.folder)
    finally:
        await drop_databases(bench.servers.database_url, name)


#: Every phase by name, in the order they run.
PHASES: dict[str, Callable[[Bench], Awaitable[list[Figure]]]] = {
    "ticks": ticks,
    "latency": latency,
    "throughput": throughput,
    "evidence": evidence,
}


@contextlib.contextmanager
def bench_context(args: argparse.Namespace) -> Iterator[Bench]:
    """The servers, a local TSA and a key each for the sealer and the anchorer, for the whole run."""
    with (
        bench_servers("bench-anchor-") as (servers, folder),
        local_tsa(folder / "tsa", folder / "tsa.log") as tsa,
    ):
        sealer_key, anchorer_key = folder / "sealer.pem", folder / "anchorer.pem"
        generate_key_file(sealer_key, load(SealerSettings).signing_key_name)
        generate_key_file(anchorer_key, load(AnchorerSettings).anchorer_key_name)
        yield Bench(args, servers, folder, tsa, sealer_key, anchorer_key)


async def run(bench: Bench) -> list[Figure]:
    figures = []
    for name in bench.args.phases:
        started = time.perf_counter()
        figures += await PHASES[name](bench)
        print(f"phase {name}: {time.perf_counter() - started:.0f} s")
    return figures


QUICK = {"shards": [4, 16], "repeats": 2, "rate": 1_000, "latency_seconds": 10.0, "interval": 3.0,
         "events": 40_000, "pairs": 1, "throughput_interval": 0.5, "evidence_events": 20_000,
         "evidence_block": 2_000, "evidence_requests": 500, "verifies": 50}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--phases",
        type=lambda s: s.split(","),
        default=list(PHASES),
        help=f"comma-separated, of {', '.join(PHASES)} (default all)",
    )
    parser.add_argument("--quick", action="store_true", help=f"small sizes for a smoke test: {QUICK}")
    parser.add_argument(
        "--shards",
        type=lambda s: [int(n) for n in s.split(",")],
        default=[4, 64, 1024],
        help="shard counts of the ticks phase",
    )
    parser.add_argument("--moved-blocks", type=int, default=3, help="blocks each shard moves between ticks")
    parser.add_argument("--block-events", type=int, default=10, help="events per block of the ticks phase")
    parser.add_argument("--repeats", type=int, default=5, help="moved and idle ticks timed per shard count")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="print the top N functions of a tick at the largest shard count",
    )
    parser.add_argument("--interval", type=float, default=10.0, help="the anchorer's interval, seconds")
    parser.add_argument("--rate", type=int, default=5_000, help="offered load of the latency phase, events/s")
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="length of the latency phase")
    parser.add_argument("--events", type=int, default=300_000, help="backlog of each throughput run")
    parser.add_argument(
        "--throughput-interval",
        type=float,
        default=2.0,
        help="the anchorer's interval while the sealer drains: short, so runs hold ticks",
    )
    parser.add_argument("--pairs", type=int, default=3, help="pairs of throughput runs (with, without)")
    parser.add_argument("--evidence-events", type=int, default=1_000_000, help="events of the evidence phase")
    parser.add_argument("--evidence-block", type=int, default=20_000, help="events per block, evidence phase")
    parser.add_argument(
        "--evidence-requests", type=int, default=5_000, help="timed evidence requests, each side"
    )
    parser.add_argument("--verifies", type=int, default=500, help="timed verifications, each side")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON summary")
    if parser.parse_args(argv).quick:
        parser.set_defaults(**QUICK)  # options given explicitly still win
    args = parser.parse_args(argv)
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; known: {', '.join(PHASES)}")
    logs.configure("WARNING")  # the in-process anchorer of the ticks phase logs every statement at info
    with bench_context(args) as bench:
        figures = run_blocking(lambda: run(bench))
    print_figures("provledger anchorer (2 shared cores, measured under contention)", figures)
    parameters = {k: v for k, v in vars(args).items() if k not in ("json", "profile")}
    write_summary(args.json, "anchor", figures, **parameters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
