"""End to end: SDK emit -> broker -> ``provledger sealer`` -> committed in Postgres, on this machine.

Measured in one run, against one broker and one Postgres:

* **sustained events/s sealed**: events are emitted with the SDK into a topic first (so the
  emitter does not share the cores with the sealer), then a ``provledger sealer`` process
  seals the whole backlog. Rates are taken from the blocks' own ``sealed_at`` times, so process
  start-up is not counted: sustained while every shard is sealing, and to drain, first block to
  last (:class:`Rates`).
* the same backlog sealed again by **REPLICAS sealer processes** in one consumer group, as
  ``deploy/`` runs them: the partitions split between them, and so does the decoding.
* beside the **baseline**: a plain aiokafka ``getmany`` loop that decodes the same records and
  writes the same rows into the same tables through the same store code, with no hashing,
  signing, Merkle tree, tiles, deduplication or Faust (``seal_baseline.py``).
* **seal latency at a fixed offered load**: the SDK emits ``--rate`` events/s for
  ``--latency-seconds`` into another topic while a sealer runs; p50/p99 of ``sealed_at`` minus
  each event's ``event_time`` (from Postgres, exact), and the p99 of the sealer's own
  commit-time histogram.
* **a warm Postgres**: the backlog is written once, unmeasured, before the first measured phase,
  so that no phase pays for a freshly started server's first WAL segments and cold buffers.
* **sealer peak memory**: the largest RSS of any sealer process (psutil) in any phase.
* **where the time goes**: CPU microseconds per event of the sealer process, Postgres and the
  broker while one sealer seals the backlog, beside the same for the baseline, and the events/s
  the machine's cores allow at that much CPU per event (embedded servers only: an external
  server's processes are not ours to read).

Usage: ``python benchmarks/bench_seal.py [--events N] [--rate N] [--latency-seconds S] [--json PATH]``
(``provledger bench`` runs it with the defaults). Servers are ``PROVLEDGER_DATABASE_URL`` /
``PROVLEDGER_KAFKA_BOOTSTRAP`` when set, else embedded ones started by ``provledger.local``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cpu import CpuMeter
from provledger.config import KafkaSettings, SealerSettings, load
from provledger.emit import Emitter
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.keyfiles import generate_key_file, load_signing_key
from provledger.local import LocalServers, local_servers
from provledger.local.probes import run_blocking
from provledger.local.process import ManagedProcess, free_port
from provledger.store.keys import register_first_key
from provledger.store.migrate import migrate_database
from report import Figure, print_figures, write_summary
from seal_baseline import copy_loop

DEFAULT_JSON = Path(__file__).parent / "results" / "seal.json"
PARTITIONS = 4
#: Sealer replicas of the scale-out phase: as many as deploy/kubernetes/sealer.yaml runs.
REPLICAS = 2
RUNS = 64
READY_TIMEOUT_S = 120.0
#: Log level of the services a benchmark starts: ``PROVLEDGER_BENCH_LOG_LEVEL=INFO`` to see why a run
#: went as it did (with ``--logs`` where a benchmark keeps them); WARNING by default, as logging costs CPU.
SERVICE_LOG_LEVEL = os.environ.get("PROVLEDGER_BENCH_LOG_LEVEL", "WARNING")


def event_maker(runs: Sequence[Run] | None = None) -> Callable[[int], Event]:
    """The ``i``-th event of ~300 bytes over ``runs`` (default RUNS new runs): a dataset in, a model out.

    Events are made when they are emitted, so each ``event_time`` is its emission time: the
    latency phase measures from there, not from before the pacing held the event back.
    """
    runs = list(runs or [Run(str(uuid.uuid4())) for _ in range(RUNS)])
    job = Job("bench", "train")
    dataset = ArtifactRef("s3://lake", "imagenet", "sha256:" + "ab" * 32, "dataset")

    def event(i: int) -> Event:
        return Event.new(
            EventType.RUNNING,
            job=job,
            run=runs[i % RUNS],
            producer="https://provledger.bench/emitter",
            inputs=[dataset],
            outputs=[ArtifactRef("models", f"ckpt-{i % 1000}", "sha256:" + f"{i:064x}", "checkpoint")],
            attributes={"step": str(i)},
        )

    return event


async def drop_databases(admin_url: str, *names: str) -> None:
    """Drop databases, stopping whatever works in them (autovacuum included)."""
    conn = await asyncpg.connect(admin_url)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_database(admin_url: str, name: str) -> str:
    await drop_databases(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    await migrate_database(url)
    return url


async def create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def emit(
    bootstrap: str, topic: str, count: int, rate: float | None, event: Callable[[int], Event] | None = None
) -> float:
    """Emit ``count`` events with the SDK, paced at ``rate`` events/s if given; returns events/s achieved."""
    settings = load(KafkaSettings, kafka_bootstrap=bootstrap, topic_events=topic)
    event = event or event_maker()
    start = time.perf_counter()
    async with Emitter(settings) as emitter:
        for i in range(count):
            if rate is not None and i % 50 == 0:
                ahead = start + i / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await emitter.emit(event(i))
    return count / (time.perf_counter() - start)


class SealerProcess:
    """A ``provledger sealer`` child whose RSS is sampled until it stops."""

    def __init__(
        self,
        folder: Path,
        database_url: str,
        bootstrap: str,
        topic: str,
        key_file: Path,
        group: str | None = None,
    ) -> None:
        self.port = free_port()
        env = (
            dict(os.environ)
            | {  # PROVLEDGER_BATCH_* and the like pass through, for tuning
                "PROVLEDGER_DATABASE_URL": database_url,
                "PROVLEDGER_KAFKA_BOOTSTRAP": bootstrap,
                "PROVLEDGER_TOPIC_EVENTS": topic,
                "PROVLEDGER_TOPIC_OPENLINEAGE": f"{topic}.openlineage",
                "PROVLEDGER_TOPIC_DEAD_LETTER": f"{topic}.dead-letter",
                "PROVLEDGER_SIGNING_KEY_FILE": str(key_file),
                "PROVLEDGER_METRICS_PORT": str(self.port),
                "PROVLEDGER_CONSUMER_GROUP": group or f"bench-{uuid.uuid4().hex[:8]}",
                "PROVLEDGER_LOG_LEVEL": SERVICE_LOG_LEVEL,
            }
        )
        self.log_path = folder / f"sealer-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "provledger", "sealer"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.peak_rss = 0
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        process = psutil.Process(self.popen.pid)
        with contextlib.suppress(psutil.NoSuchProcess):
            while True:
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)
                await asyncio.sleep(0.1)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline and self.popen.poll() is None:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the sealer did not become ready; see {self.log_path}")

    async def metrics(self) -> str:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text

    async def stop(self) -> None:
        self.popen.terminate()
        await asyncio.to_thread(self.popen.wait, 30)
        self._sampler.cancel()


async def register_sealer_key(database_url: str, key_file: Path) -> None:
    """Register the benchmark's sealer key as the ledger's first, as `provledger up` does.

    A sealer never registers its own key (``provledger keys rotate`` does); a key already
    current is left as it is, so replicas sharing one key may each call this.
    """
    key = load_signing_key(key_file, load(SealerSettings).signing_key_name)
    conn = await asyncpg.connect(database_url)
    try:
        await register_first_key(conn, key.verifier, time.time_ns() // 1000)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def sealer(
    folder: Path, database_url: str, bootstrap: str, topic: str, key_file: Path, group: str | None = None
) -> AsyncIterator[SealerProcess]:
    await register_sealer_key(database_url, key_file)
    process = SealerProcess(folder, database_url, bootstrap, topic, key_file, group)
    try:
        yield process
    finally:
        await process.stop()


@contextlib.asynccontextmanager
async def service_process(
    folder: Path, command: str, env: dict[str, str], port_variable: str
) -> AsyncIterator[tuple[str, ManagedProcess]]:
    """A ready ``provledger <command>`` child configured by ``env``; its URL and process.

    ``port_variable`` names the setting of the port it serves ``/readyz`` on (a free one).
    """
    port = free_port()
    process = ManagedProcess(
        command,
        [sys.executable, "-m", "provledger", command],
        folder / f"{command}-{port}.log",
        env=dict(os.environ) | env | {port_variable: str(port), "PROVLEDGER_LOG_LEVEL": SERVICE_LOG_LEVEL},
    )
    url = f"http://127.0.0.1:{port}"

    def probe() -> None:
        httpx.get(f"{url}/readyz", timeout=2).raise_for_status()

    try:
        await asyncio.to_thread(process.wait_ready, probe, READY_TIMEOUT_S, "/readyz")
        yield url, process
    finally:
        await asyncio.to_thread(process.stop)


# From the blocks, a few rows: count(*) over the events, four times a second, cost Postgres
# several microseconds per event of the CPU it measures.
_SEALED = "SELECT coalesce(sum(event_count), 0) FROM blocks"


async def _sealed(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(_SEALED))
    finally:
        await conn.close()


async def wait_sealed(database_url: str, count: int, timeout_s: float) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while await conn.fetchval(_SEALED) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {count} events sealed after {timeout_s} s")
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Rates:
    """How fast a backlog was sealed, read from the blocks' own ``sealed_at`` times.

    ``drain`` runs from the first block to the last. Partitions do not finish together: events
    are keyed by run, so partitions hold unequal shares (155,000 to 295,000 of a 900,000-event
    backlog), and while the largest are sealed alone the cores idle. ``sustained`` counts only
    the window in which every shard was sealing, as under continuous load: from the last
    shard's first block to the first shard's last.
    """

    drain: float
    sustained: float
    blocks: int
    per_block: float


async def sealing_rates(database_url: str) -> Rates:
    conn = await asyncpg.connect(database_url)
    try:
        whole = await conn.fetchrow(
            "SELECT extract(epoch FROM max(sealed_at) - min(sealed_at)) AS span, sum(event_count) AS events, "
            "count(*) AS blocks, (array_agg(event_count ORDER BY sealed_at))[1] AS first FROM blocks"
        )
        window = await conn.fetchrow(
            "WITH shards AS (SELECT min(sealed_at) AS first, max(sealed_at) AS last "
            "FROM blocks GROUP BY shard), w AS (SELECT max(first) AS opens, min(last) AS closes FROM shards) "
            "SELECT extract(epoch FROM w.closes - w.opens) AS span, (SELECT sum(event_count) FROM blocks "
            "WHERE sealed_at > w.opens AND sealed_at <= w.closes) AS events FROM w"
        )
    finally:
        await conn.close()
    assert whole is not None
    assert window is not None
    # A block's events were sealed before its sealed_at: the first block (of the window) opens it.
    drain = (whole["events"] - whole["first"]) / float(whole["span"])
    sustained = window["events"] / float(window["span"]) if window["events"] else drain
    return Rates(drain, sustained, whole["blocks"], whole["events"] / whole["blocks"])


async def seal_latency(database_url: str) -> tuple[float, float]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50, "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99 FROM ("
            "SELECT extract(epoch FROM b.sealed_at - e.event_time) AS s "
            "FROM events e JOIN blocks b USING (shard, height)) AS t"
        )
    finally:
        await conn.close()
    assert row is not None
    return float(row["p50"]), float(row["p99"])


def _histogram_p99(metrics: str, name: str) -> float:
    """The 99th percentile of a Prometheus histogram, as PromQL's ``histogram_quantile`` reads it.

    Linear within the bucket that holds it; the bucket bounds are the sealer's own, with one at
    1 s, the latency target, so which side of the target p99 lies is exact.
    """
    buckets = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(rf'^{name}_bucket\{{le="([^"]+)"\}} (\S+)$', metrics, re.M)
    ]
    rank = 0.99 * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    raise ValueError(f"{name} has no observations")


async def _replicas_phase(
    admin_url: str, bootstrap: str, topic: str, key_file: Path, folder: Path, events: int
) -> tuple[Rates, int]:
    """Seal the backlog again with REPLICAS sealers in one group; its rates and the largest RSS."""
    database = await create_database(admin_url, "bench_replicas")
    group = f"bench-{uuid.uuid4().hex[:8]}"
    async with contextlib.AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(sealer(folder, database, bootstrap, topic, key_file, group=group))
            for _ in range(REPLICAS)
        ]
        await wait_sealed(database, events, 600)
    rates = await sealing_rates(database)
    await drop_databases(admin_url, "bench_replicas")
    return rates, max(replica.peak_rss for replica in replicas)


async def warm_up(admin_url: str, bootstrap: str, topic: str, events: int, max_records: int) -> None:
    """Write the backlog once, unmeasured, so that no measured phase runs on a cold Postgres.

    A freshly started server creates its WAL segments and fills its buffers during the first
    writes: the first of two identical baseline runs cost Postgres 20 µs of CPU per event, the
    second 12. Whichever phase came first paid that, and the sealer's phase comes first.
    """
    database = await create_database(admin_url, "bench_warm_up")
    await copy_loop(bootstrap, topic, database, events, max_records)
    await drop_databases(admin_url, "bench_warm_up")


def server_pids(servers: LocalServers) -> dict[str, int]:
    """The embedded servers' processes; empty (with the reason printed) when any server is not ours."""
    postgres = servers.postgres.process if servers.postgres else None
    broker = servers.kafka.process if servers.kafka else None
    if postgres is None or broker is None:
        print("CPU per process is not measured: Postgres or the broker is not an embedded server of this run")
        return {}
    return {"Postgres": postgres.pid, "broker": broker.pid}


def _cpu_figures(sealing: CpuMeter, sealed: int, baseline: CpuMeter, copied: int) -> list[Figure]:
    """CPU per event of each process, and what the cores allow at the total, beside the baseline's."""
    figures = []
    pairs = (("sealer", "baseline loop"), ("Postgres", "Postgres"), ("broker", "broker"))
    for process, baseline_process in pairs:
        figures.append(
            Figure(
                f"CPU per event: {process}",
                sealing.micros_per(process, sealed),
                "us/event",
                baseline.micros_per(baseline_process, copied),
                f"{baseline_process} in the baseline",
            )
        )
    total = sum(sealing.used.values()) / sealed * 1e6
    baseline_total = sum(baseline.used.values()) / copied * 1e6
    cores = psutil.cpu_count() or 1
    figures.append(Figure("CPU per event: all three", total, "us/event", baseline_total, "the baseline's"))
    figures.append(
        Figure(
            f"events/s {cores} cores allow at that CPU",
            cores / total * 1e6,
            "events/s",
            cores / baseline_total * 1e6,
            "baseline",
        )
    )
    return figures


async def run(args: argparse.Namespace, servers: LocalServers, folder: Path) -> list[Figure]:
    admin_url, bootstrap = servers.database_url, servers.kafka_bootstrap
    pids = server_pids(servers)
    defaults = load(SealerSettings)
    key_file = folder / "bench.pem"
    generate_key_file(key_file, defaults.signing_key_name)
    backlog, live = f"bench.{uuid.uuid4().hex[:8]}.backlog", f"bench.{uuid.uuid4().hex[:8]}.live"
    for topic in (backlog, live):
        await create_topic(bootstrap, topic)
    emit_rate = await emit(bootstrap, backlog, args.events, None)
    print(f"emitted {args.events:,} events into {backlog} at {emit_rate:,.0f} events/s")
    await warm_up(admin_url, bootstrap, backlog, args.events, defaults.batch_max_records)

    sealer_db = await create_database(admin_url, "bench_sealer")
    async with sealer(folder, sealer_db, bootstrap, backlog, key_file) as backlog_sealer:
        # Measured from readiness on: start-up (imports, Faust) is not per-event work.
        await backlog_sealer.wait_ready()
        sealing = CpuMeter(pids | {"sealer": backlog_sealer.popen.pid})
        sealing.start()
        sealed_before = await _sealed(sealer_db)
        await wait_sealed(sealer_db, args.events, 600)
        sealing.stop()
    sealed = await sealing_rates(sealer_db)
    print(
        f"sealer: {sealed.sustained:,.0f} events/s sustained, {sealed.drain:,.0f} to drain, "
        f"in {sealed.blocks} blocks of {sealed.per_block:,.0f} events on average"
    )

    # Each phase starts on a quiet server: left alone, autovacuum of the events just sealed ran
    # for seconds into the next phase (pg_stat_activity), on the cores that phase measures.
    await drop_databases(admin_url, "bench_sealer")
    replicas, replicas_rss = await _replicas_phase(
        admin_url, bootstrap, backlog, key_file, folder, args.events
    )
    print(
        f"{REPLICAS} replicas: {replicas.sustained:,.0f} events/s sustained, {replicas.drain:,.0f} to drain"
    )

    baseline_db = await create_database(admin_url, "bench_baseline")
    copying = CpuMeter(pids, own="baseline loop")
    copying.start()
    await copy_loop(bootstrap, backlog, baseline_db, args.events, defaults.batch_max_records)
    copying.stop()
    baseline = await sealing_rates(baseline_db)
    print(f"baseline: {baseline.sustained:,.0f} events/s sustained, {baseline.drain:,.0f} to drain")

    await drop_databases(admin_url, "bench_baseline")
    live_db = await create_database(admin_url, "bench_live")
    offered = int(args.rate * args.latency_seconds)
    async with sealer(folder, live_db, bootstrap, live, key_file) as live_sealer:
        await live_sealer.wait_ready()
        achieved = await emit(bootstrap, live, offered, args.rate)
        await wait_sealed(live_db, offered, 120)
        metrics = await live_sealer.metrics()
    p50, p99 = await seal_latency(live_db)
    commit_p99 = _histogram_p99(metrics, "provledger_sealer_latency_from_event_time_seconds")
    peak = max(backlog_sealer.peak_rss, live_sealer.peak_rss, replicas_rss) / 2**20
    cpu = _cpu_figures(sealing, args.events - sealed_before, copying, args.events) if pids else []
    return [
        Figure(
            "events/s sealed, every shard busy (sustained)",
            sealed.sustained,
            "events/s",
            baseline.sustained,
            "getmany+COPY",
        ),
        Figure(
            "events/s to drain the backlog (first block to last)",
            sealed.drain,
            "events/s",
            baseline.drain,
            "getmany+COPY",
        ),
        Figure(
            f"events/s sustained by {REPLICAS} sealer replicas (as deployed)",
            replicas.sustained,
            "events/s",
            baseline.sustained,
            "getmany+COPY",
        ),
        Figure(
            f"events/s to drain by {REPLICAS} sealer replicas",
            replicas.drain,
            "events/s",
            baseline.drain,
            "getmany+COPY",
        ),
        Figure("events/s emitted by the SDK (pre-fill)", emit_rate, "events/s"),
        Figure("mean events per block", sealed.per_block, "events"),
        Figure(f"offered load achieved (target {args.rate:,}/s)", achieved, "events/s"),
        Figure("seal latency p50 (event_time to sealed_at)", p50 * 1000, "ms"),
        Figure("seal latency p99 (event_time to sealed_at)", p99 * 1000, "ms"),
        Figure("seal latency p99 to commit (sealer histogram)", commit_p99 * 1000, "ms"),
        Figure("sealer peak RSS (largest process)", peak, "MiB"),
        *cpu,
    ]


@contextlib.contextmanager
def bench_servers(prefix: str) -> Iterator[tuple[LocalServers, Path]]:
    """Servers (PROVLEDGER_DATABASE_URL / _KAFKA_BOOTSTRAP when set, else embedded) and a scratch folder."""
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        local_servers(
            data_dir=Path(tmp),
            database_url=os.environ.get("PROVLEDGER_DATABASE_URL"),
            kafka_bootstrap=os.environ.get("PROVLEDGER_KAFKA_BOOTSTRAP"),
            durable=False,
        ) as servers,
    ):
        yield servers, Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="events in the pre-filled topic")
    parser.add_argument("--rate", type=int, default=5_000, help="offered load of the latency phase, events/s")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of the latency phase")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON summary")
    args = parser.parse_args(argv)
    settings = load(SealerSettings)
    with bench_servers("bench-seal-") as (servers, folder):
        figures = run_blocking(lambda: run(args, servers, folder))
    print_figures("provledger sealer, end to end (2 shared cores, measured under contention)", figures)
    write_summary(
        args.json,
        "seal",
        figures,
        events=args.events,
        rate=args.rate,
        latency_seconds=args.latency_seconds,
        partitions=PARTITIONS,
        batch_max_records=settings.batch_max_records,
        batch_linger_ms=settings.batch_linger_ms,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
