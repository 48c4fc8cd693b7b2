"""Good traffic beside hostile inputs: what 1,000 hostile inputs/s cost the ledger (issue 15).

Two phases of ``--seconds`` each against the same servers, each with its own topics, database,
``provledger sealer`` and ``provledger api`` processes, so neither sees the other's data:

* **clean**: good traffic only: 5,000 events/s through the SDK (``bench_seal.py``'s events, job
  ``bench/train``) and 20 OpenLineage RunEvents/s through ``POST /api/v1/lineage`` (job
  ``bench/api-good``), so the API's ingest path runs in both phases;
* **hostile**: the same good traffic, plus 1,000 hostile inputs/s from a process of their own
  (so the client's CPU does not delay the good emitter's loop; at nice 19 by default, standing
  for a client on another machine: ``--attacker-nice 0`` lets it take the ledger's cores),
  round-robin over the classes
  below. Kafka records carry the record keys of the good events, so they land on the same
  partitions, in the same shards' queues. The large classes get a few per second, so that what
  is measured is the ledger's handling of them, not two shared cores moving megabytes:

  ==========================================  =====  ==================================
  class (door)                                /s     expected
  ==========================================  =====  ==================================
  HTTP eventTime 9999-12-31T23:59:59-23:59     76    400 bad_event_time
  HTTP NUL in the job namespace                76    400 bad_text
  HTTP lone surrogate in a facet key           76    400 (JSON text with a \\ud800 escape)
  HTTP gzip followed by garbage                76    400 bad-gzip
  HTTP two gzip members                        76    400 bad-gzip
  HTTP gzip bomb (~16 KB, inflates 2x cap)      4    413
  HTTP structure bomb to /batch (gzipped)       2    4xx ([{},{},...] just under the cap)
  HTTP GET /v1/runs?cursor=<out of range>      76    400 invalid-cursor
  events: NUL in the job name                  76    dead letter bad_text
  events: event time past year 9999            76    dead letter bad_event_time
  events: ~1 MB of empty attributes             2    dead letter oversized
  events: unknown fingerprint                  76    dead letter unknown_fingerprint
  events: random garbage                       76    dead letter not_single_object
  events: record over the record limit          2    dead letter oversized
  events: conflicting duplicate                76    dead letter conflicting_duplicate
  openlineage: eventTime past 9999             76    dead letter bad_event_time
  openlineage: not JSON                        76    dead letter malformed_json
  openlineage: structure bomb RunEvent          2    dead letter oversized
  ==========================================  =====  ==================================

  A conflicting duplicate takes the id of a good event already sealed (read from Postgres), so
  it can only ever be the second copy; until the first good event is sealed none is sent. The
  OpenLineage structure bomb is a RunEvent whose run facet holds ``[{},{},...]`` up to 1 KiB
  under the record limit: valid JSON, within every size limit, ~350,000 objects.

Measured per phase: seal latency p50/p99 of the good events (``sealed_at`` minus ``event_time``
in Postgres, selected by job), good events sealed against sent (all must be), peak RSS and CPU
of the sealer and the API (psutil, every 0.1 s, from readiness to the end of the phase), dead
letters by reason (the dead-letter topic's ``provledger-reason`` header, matched to the class
by its ``provledger-source``), hostile HTTP answers by status and problem type, hostile
records that were sealed, alarming lines in the sealer's and API's logs, how busy the machine
was while the traffic flowed, and the CPU that work outside this benchmark took meanwhile (the
cores are shared: a figure taken beside another job's tests is not this code's figure).

Printed as measure | clean | hostile | ratio | target | met?, then each hostile class with what
happened to it ("no dead letter": the record was accepted, so sealed or dropped as an identical
duplicate; events sealed of other jobs than the good ones are listed below the classes).
Targets (issue 15): good-event p99 under 1 s and within 1.5x of the clean run; sealer RSS under
300 MB; API RSS under 256 MB.

Usage: ``python benchmarks/bench_hostile.py [--seconds 60] [--exclude WORDS] [--logs DIR]
[--json PATH]``; ``--exclude`` leaves out classes (by words of their names) to see what the rest
cost, ``--logs`` keeps the sealer's and API's logs, the good events' latency second by second
(to their block, and to their Kafka record) and each block's timing. Servers are ``PROVLEDGER_DATABASE_URL`` /
``PROVLEDGER_KAFKA_BOOTSTRAP`` when set, else embedded ones; hostile inputs go only to a broker
and an API on 127.0.0.1 (the script refuses any other), bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bench_seal import (
    PARTITIONS,
    RUNS,
    SealerProcess,
    bench_servers,
    create_database,
    create_topic,
    drop_databases,
    emit,
    event_maker,
    sealer,
    server_pids,
    service_process,
    warm_up,
)
from cpu import server_seconds
from hostile_inputs import (
    API_JOB,
    GOOD_JOB,
    HOSTILE,
    NAMESPACE,
    Hostile,
    HostilePlan,
    HostileSent,
    api_session,
    ask,
    check_loopback,
    hostile_worker,
    run_event,
)
from provledger.config import ApiSettings, KafkaSettings, SealerSettings, load
from provledger.events.model import Run
from provledger.events.reader import read_batch
from provledger.keyfiles import generate_key_file
from provledger.local import LocalServers
from provledger.local.probes import run_blocking
from report import Figure, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "hostile.json"
GOOD_RATE = 5_000
API_GOOD_RATE = 20
#: How long good events may take to be sealed after the traffic ends, and dead letters to settle.
DRAIN_TIMEOUT_S = 120.0
#: Log lines of the sealer and the API that mean trouble: both log at WARNING here, so any line of
#: provledger's own loggers, and whatever else says it crashed.
LOG_ALARMS = ('"logger": "provledger.', "Traceback", "agent stops", "crashed", '"level": "error"')
SEALER_RSS_TARGET, API_RSS_TARGET, P99_TARGET_S, P99_RATIO_TARGET = 300e6, 256e6, 1.0, 1.5


# The phases. -------------------------------------------------------------------------------------


class Watch:
    """Peak RSS and CPU seconds of one process, sampled every 0.1 s from now until :meth:`stop`."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._cpu_start = self._cpu()
        self.peak_rss, self.cpu_s = 0, 0.0
        self._task = asyncio.create_task(self._sample())

    def _cpu(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    async def _sample(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            while True:
                self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)
                self.cpu_s = self._cpu() - self._cpu_start
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._task.cancel()


class ServerLoad:
    """CPU of the broker and Postgres (with children) while traffic flows, and in its first and last 10 s.

    The dev broker (Tansu, in memory) lists every batch of a partition on each fetch, so its CPU
    grows as the topics fill, within each phase: on two shared cores that growth is CPU the
    ledger's processes no longer get, and it shows here as the last 10 s against the first.
    """

    WINDOW_S = 10.0

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._readings: list[tuple[float, dict[str, float]]] = [self._read()]
        self._task = asyncio.create_task(self._sample())

    def _read(self) -> tuple[float, dict[str, float]]:
        return time.monotonic(), {name: server_seconds(pid) for name, pid in self._pids.items()}

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._readings.append(await asyncio.to_thread(self._read))

    async def stop(self) -> None:
        self._task.cancel()
        self._readings.append(await asyncio.to_thread(self._read))

    def seconds(self, name: str) -> float:
        """CPU seconds of ``name`` over the whole traffic."""
        return self._readings[-1][1][name] - self._readings[0][1][name]

    def share(self, name: str, last: bool) -> float:
        """``name``'s CPU as a share of one core over the first (or last) :attr:`WINDOW_S` of traffic."""
        readings = self._readings
        if last:
            end = readings[-1]
            begin = next((r for r in reversed(readings) if end[0] - r[0] >= self.WINDOW_S), readings[0])
        else:
            begin = readings[0]
            end = next((r for r in readings if r[0] - begin[0] >= self.WINDOW_S), readings[-1])
        elapsed = end[0] - begin[0]
        return (end[1][name] - begin[1][name]) / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict[str, ServerCpu]:
        return {
            name: ServerCpu(self.seconds(name), self.share(name, last=False), self.share(name, last=True))
            for name in self._pids
        }


@dataclass(frozen=True)
class ServerCpu:
    """A server's CPU seconds while traffic flowed, and its share of a core in the first and last 10 s."""

    seconds: float
    first: float
    last: float


class Bystanders:
    """CPU seconds the machine spent outside this benchmark's processes, from creation to :meth:`stop`.

    The machine's busy time less that of this process and its descendants (servers, sealer, API,
    hostile sender), counting a descendant that exited in the one that reaped it (Postgres'
    backends and autovacuum workers in the postmaster): other work on the shared cores, which
    slows every figure here.
    """

    def __init__(self) -> None:
        self._busy_start, self._ours_start, self._started = self._busy(), self._ours(), time.monotonic()
        self.cpu_s, self.machine_busy = 0.0, 0.0

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()  # on Linux guest time is already in user and nice
        busy = ("user", "nice", "system", "irq", "softirq", "steal")
        return float(sum(getattr(times, name, 0.0) for name in busy))

    @staticmethod
    def _ours() -> float:
        me = psutil.Process()
        total = 0.0
        for process in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = process.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        return total

    def stop(self) -> None:
        busy = self._busy() - self._busy_start
        self.cpu_s = busy - (self._ours() - self._ours_start)
        self.machine_busy = busy / (time.monotonic() - self._started) / (psutil.cpu_count() or 1)


async def _post_good_run_events(url: str, token: str, runs: list[Run], seconds: float) -> Counter[str]:
    """POST API_GOOD_RATE good RunEvents/s, one at a time; the answers by status."""
    answers: Counter[str] = Counter()
    as_json = {"Content-Type": "application/json"}
    async with api_session(url, token, 1) as session:
        start = time.monotonic()
        for n in range(int(API_GOOD_RATE * seconds)):
            if (ahead := start + n / API_GOOD_RATE - time.monotonic()) > 0:
                await asyncio.sleep(ahead)
            body = json.dumps(run_event(runs[n % RUNS].run_id)).encode()
            answers[await ask(session, "POST", "/api/v1/lineage", body, as_json)] += 1
    return answers


@dataclass(frozen=True)
class Sealed:
    """The good events of one job in a phase's Postgres: how many, and their seal latency."""

    count: int
    p50_s: float
    p99_s: float


async def _sealed(database_url: str, job: str) -> Sealed:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50, "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99 FROM ("
            "SELECT extract(epoch FROM b.sealed_at - e.event_time)::float8 AS s FROM events e "
            "JOIN blocks b USING (shard, height) WHERE e.job_namespace = $1 AND e.job_name = $2) AS t",
            NAMESPACE,
            job,
        )
    finally:
        await conn.close()
    assert row is not None
    return Sealed(row["n"], row["p50"] or 0.0, row["p99"] or 0.0)


async def _save_timeline(folder: Path, database_url: str, bootstrap: str, topic: str, phase: str) -> None:
    """The good events' latency by second of event time, and each block's timing.

    ``latency-<phase>.tsv`` (event time to its block's seal) tells a p99 made of a few spikes (a
    pause somewhere) from a broad one (CPU short throughout); ``blocks-<phase>.tsv`` a pause of the
    sealer (no block on any shard for a while) from lateness before it (blocks on time, holding
    events that are late already); ``emitted-<phase>.tsv`` (event time to its Kafka record's
    timestamp, which the SDK's producer sets when it takes the record) the emitter's share of that.
    """
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM e.event_time)::float8 AS t, "
            "extract(epoch FROM b.sealed_at - e.event_time)::float8 AS s FROM events e "
            "JOIN blocks b USING (shard, height) WHERE e.job_namespace = $1 AND e.job_name = $2",
            NAMESPACE,
            GOOD_JOB,
        )
        blocks = await conn.fetch(
            "SELECT b.shard, b.height, extract(epoch FROM b.sealed_at)::float8 AS sealed, "
            "count(e.*) AS events, extract(epoch FROM b.sealed_at - min(e.event_time))::float8 AS oldest "
            "FROM blocks b LEFT JOIN events e USING (shard, height) GROUP BY 1, 2, 3 ORDER BY 3"
        )
    finally:
        await conn.close()
    origin = min((row["t"] for row in rows), default=0.0)
    start = blocks[0]["sealed"] if blocks else 0.0
    block_lines = ["sealed_s\tshard\theight\tevents\toldest_event_ms"] + [
        f"{b['sealed'] - start:.3f}\t{b['shard']}\t{b['height']}\t{b['events']}\t"
        + ("" if b["oldest"] is None else f"{b['oldest'] * 1e3:.0f}")
        for b in blocks
    ]
    files = {
        f"latency-{phase}.tsv": _per_second((row["t"] - origin, row["s"]) for row in rows),
        f"blocks-{phase}.tsv": block_lines,
        f"emitted-{phase}.tsv": _per_second(
            (t - origin, lag) for t, lag in await _emit_lags(bootstrap, topic)
        ),
    }
    await asyncio.to_thread(
        _write_files, folder, {name: "\n".join(text) + "\n" for name, text in files.items()}
    )


def _per_second(samples: Iterable[tuple[float, float]]) -> list[str]:
    """Lines of second, count, p50, p99 and max in ms of (seconds since the first event, seconds)."""
    by_second: defaultdict[int, list[float]] = defaultdict(list)
    for when, seconds in samples:
        by_second[int(when)].append(seconds)
    lines = ["second\tevents\tp50_ms\tp99_ms\tmax_ms"]
    for second, values in sorted(by_second.items()):
        values.sort()
        p50, p99 = (values[min(len(values) - 1, int(q * len(values)))] for q in (0.5, 0.99))
        cells = (len(values), *(f"{value * 1e3:.0f}" for value in (p50, p99, values[-1])))
        lines.append("\t".join(map(str, (second, *cells))))
    return lines


async def _emit_lags(bootstrap: str, topic: str) -> list[tuple[float, float]]:
    """(event time, record timestamp - event time) in seconds of each good event of ``topic``."""
    lags: list[tuple[float, float]] = []
    async with _from_start(bootstrap, topic) as (consumer, partitions):
        async for record in _to_end(consumer, partitions):
            rows = read_batch(record.value, record.offset) if record.value else None
            lags += [
                (row.event_time / 1e6, record.timestamp / 1e3 - row.event_time / 1e6)
                for row in rows or ()
                if row.job_name == GOOD_JOB
            ]
    return lags


async def _wait_sealed(database_url: str, expected: dict[str, int]) -> None:
    """Wait until each job has its expected events sealed, or DRAIN_TIMEOUT_S has passed."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    conn = await asyncpg.connect(database_url)
    try:
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT job_name, count(*) FROM events WHERE job_namespace = $1 GROUP BY 1", NAMESPACE
            )
            counts = {row[0]: row[1] for row in rows}
            if all(counts.get(job, 0) >= n for job, n in expected.items()):
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def _other_sealed(database_url: str) -> Counter[str]:
    """Events sealed that are not good traffic, by job name: hostile records that got through."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT job_namespace || '/' || job_name, count(*) FROM events "
            "WHERE NOT (job_namespace = $1 AND job_name IN ($2, $3)) GROUP BY 1",
            NAMESPACE,
            GOOD_JOB,
            API_JOB,
        )
    finally:
        await conn.close()
    return Counter({row[0]: row[1] for row in rows})


@dataclass(frozen=True)
class DeadLetter:
    """Why a record was dead-lettered and which record it was (``topic/partition/offset``)."""

    reason: str
    source: str
    stub: bool


def _letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = dict(record.headers)
    return DeadLetter(
        headers.get("provledger-reason", b"(none)").decode(),
        headers.get("provledger-source", b"").decode(),
        "provledger-stub" in headers,
    )


async def _save_state(
    folder: Path, process: SealerProcess, database_url: str, missing: dict[str, list[str]]
) -> None:
    """What the sealer held when records were left without a dead letter: its metrics, each shard's offset."""
    metrics = await process.metrics()
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT * FROM shards LEFT JOIN consumer_offsets USING (shard) ORDER BY 1")
    finally:
        await conn.close()
    files = {
        "metrics.txt": metrics,
        "shards.txt": "".join(f"{dict(row)}\n" for row in rows),
        "missing.txt": "".join(
            f"{source} {name}\n" for name, sources in missing.items() for source in sources
        ),
    }
    await asyncio.to_thread(_write_files, folder, files)
    count = sum(map(len, missing.values()))
    print(f"{count} hostile records have no dead letter; the sealer's state: {folder}", flush=True)


def _write_files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


async def _dead_letters(bootstrap: str, topic: str, expected: set[str]) -> list[DeadLetter]:
    """Every dead letter of ``topic``, until each source in ``expected`` has one or DRAIN_TIMEOUT_S passed.

    Waiting for the sources themselves, not for a quiet spell, tells a record the sealer reached
    late from one it never reached. Letters already there past those (of good records, or sent
    twice after a retry) are read too.
    """
    options = {"max_partition_fetch_bytes": 16 << 20, "fetch_max_bytes": 64 << 20}
    async with _from_start(bootstrap, topic, **options) as (consumer, partitions):
        letters: list[DeadLetter] = []
        missing, deadline = set(expected), time.monotonic() + DRAIN_TIMEOUT_S
        while missing and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                batch = [_letter(record) for record in records]
                letters += batch
                missing.difference_update(letter.source for letter in batch)
        return letters + [_letter(record) async for record in _to_end(consumer, partitions)]


@contextlib.asynccontextmanager
async def _from_start(
    bootstrap: str, topic: str, **options: int
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A consumer of every partition of ``topic`` from its first record, outside any group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer, partitions
    finally:
        await consumer.stop()


async def _to_end(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Each record from the consumer's positions up to the partitions' end offsets as of now."""
    end = await consumer.end_offsets(partitions)
    while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            for record in records:
                yield record


@dataclass
class Phase:
    """What one phase sent and what the ledger made of it."""

    name: str
    sdk_sent: int
    sdk_rate: float
    sdk: Sealed
    api_answers: Counter[str]
    api: Sealed
    sealer_rss: int
    api_rss: int
    sealer_cpu: float
    api_cpu: float
    dead_letters: list[DeadLetter]
    other_sealed: Counter[str]
    bystanders_cpu: float
    machine_busy: float  # of all cores, while the traffic flowed
    exited: list[str]
    log_alarms: list[str]  # lines of the sealer's and API's logs holding one of LOG_ALARMS
    hostile: HostileSent | None
    servers: dict[str, ServerCpu]  # the broker's and Postgres', when they are this run's embedded ones


@dataclass(frozen=True)
class Bench:
    """What every phase shares: servers, the signing key, the API token, the hostile sender's pool."""

    admin_url: str
    bootstrap: str
    folder: Path
    key_file: Path
    token: str
    tokens_file: Path
    seconds: float
    pool: ProcessPoolExecutor
    classes: tuple[Hostile, ...]
    server_pids: dict[str, int]


async def _hostile(pool: ProcessPoolExecutor, plan: HostilePlan) -> HostileSent | None:
    return await asyncio.get_running_loop().run_in_executor(pool, hostile_worker, plan)


async def _nothing() -> HostileSent | None:
    return None


async def run_phase(bench: Bench, name: str, hostile: bool) -> Phase:
    """Good traffic (and hostile inputs if ``hostile``) for ``bench.seconds`` through new processes."""
    topic = f"bench.{uuid.uuid4().hex[:8]}.{name}"
    for suffix in ("", ".openlineage", ".dead-letter"):
        await create_topic(bench.bootstrap, topic + suffix)
    database = await create_database(bench.admin_url, f"bench_hostile_{name}")
    runs = [Run(str(uuid.uuid4())) for _ in range(RUNS)]
    api_env = {
        "PROVLEDGER_DATABASE_URL": database,
        "PROVLEDGER_KAFKA_BOOTSTRAP": bench.bootstrap,
        "PROVLEDGER_TOPIC_EVENTS": topic,
        "PROVLEDGER_TOPIC_OPENLINEAGE": f"{topic}.openlineage",
        "PROVLEDGER_TOKENS_FILE": str(bench.tokens_file),
    }
    count = int(GOOD_RATE * bench.seconds)
    async with (
        sealer(bench.folder, database, bench.bootstrap, topic, bench.key_file) as sealer_process,
        service_process(bench.folder, "api", api_env, "PROVLEDGER_API_PORT") as (api_url, api),
    ):
        await sealer_process.wait_ready()
        watches, bystanders, traffic, load_of_servers = (
            (Watch(sealer_process.popen.pid), Watch(api.pid)),
            Bystanders(),
            Bystanders(),
            ServerLoad(bench.server_pids),
        )
        plan = HostilePlan(
            bench.bootstrap, topic, f"{topic}.openlineage", api_url, bench.token, database,
            tuple(run.run_id.encode() for run in runs), bench.seconds,
            load(KafkaSettings).max_record_bytes, load(ApiSettings).max_ingest_bytes, bench.classes,
        )  # fmt: skip
        sdk_rate, api_answers, sent = await asyncio.gather(
            emit(bench.bootstrap, topic, count, GOOD_RATE, event_maker(runs)),
            _post_good_run_events(api_url, bench.token, runs, bench.seconds),
            _hostile(bench.pool, plan) if hostile else _nothing(),
        )
        await asyncio.to_thread(traffic.stop)
        await load_of_servers.stop()
        accepted = api_answers["201"]
        await _wait_sealed(database, {GOOD_JOB: count, API_JOB: accepted})
        letters = await _dead_letters(
            bench.bootstrap, f"{topic}.dead-letter", set(sent.records) if sent else set()
        )
        if missing := without_dead_letter(sent, letters):
            await _save_state(bench.folder / f"missing-{name}", sealer_process, database, missing)
        for watch in watches:
            watch.stop()
        await asyncio.to_thread(bystanders.stop)
        exited = [
            f"{what} exited with status {status}"
            for what, status in (("sealer", sealer_process.popen.poll()), ("api", api.exit_code()))
            if status is not None
        ]
    log = sealer_process.log_path.read_text(errors="replace") + api.log_path.read_text(errors="replace")
    alarms = [line for line in log.splitlines() if any(alarm in line for alarm in LOG_ALARMS)]
    sdk, api_events = await _sealed(database, GOOD_JOB), await _sealed(database, API_JOB)
    await _save_timeline(bench.folder, database, bench.bootstrap, topic, name)
    phase = Phase(
        name, count, sdk_rate, sdk, api_answers, api_events,
        watches[0].peak_rss, watches[1].peak_rss, watches[0].cpu_s, watches[1].cpu_s, letters,
        await _other_sealed(database), bystanders.cpu_s, traffic.machine_busy, exited, alarms, sent,
        load_of_servers.summary(),
    )  # fmt: skip
    await drop_databases(bench.admin_url, f"bench_hostile_{name}")
    return phase


# What is printed. --------------------------------------------------------------------------------

HEADER = ("measure", "clean", "hostile", "ratio", "target", "met?")
MIB = 1 << 20


@dataclass(frozen=True)
class Row:
    """One measure of both phases, and whether the hostile phase (or both) met its target."""

    measure: str
    clean: str
    hostile: str
    ratio: str = ""
    target: str = ""
    met: str = ""

    @classmethod
    def of(
        cls, measure: str, value: Callable[[Phase], float], phases: tuple[Phase, Phase], fmt: str = "{:,.0f}",
        target: str = "", met: bool | None = None,
    ) -> Row:  # fmt: skip
        clean, hostile = (value(phase) for phase in phases)
        ratio = f"{hostile / clean:.2f}x" if clean else ""
        return cls(measure, fmt.format(clean), fmt.format(hostile), ratio, target, _met(met))

    @classmethod
    def counts(
        cls, measure: str, text: Callable[[Phase], str], phases: tuple[Phase, Phase], met: bool
    ) -> Row:
        """A row of counts written as ``text`` makes them (``sealed / sent``), which must all be equal."""
        return cls(measure, text(phases[0]), text(phases[1]), "", "all", _met(met))

    def cells(self) -> tuple[str, ...]:
        return (self.measure, self.clean, self.hostile, self.ratio, self.target, self.met)


def _met(ok: bool | None) -> str:
    return "" if ok is None else "yes" if ok else "NO"


def _http_failures(phase: Phase) -> int:
    """Hostile requests answered with anything but a 4xx (a 5xx, a 2xx, no answer at all)."""
    answers = phase.hostile.answers.values() if phase.hostile else ()
    return sum(n for counts in answers for answer, n in counts.items() if not answer.startswith("4"))


def _stray_letters(phase: Phase) -> Counter[str]:
    """Dead letters of records not sent as hostile (good records!), by reason and source topic."""
    records = phase.hostile.records if phase.hostile else {}
    return Counter(
        f"{letter.reason} from {letter.source.rsplit('/', 2)[0]}"
        for letter in phase.dead_letters
        if letter.source not in records
    )


def outcomes(phase: Phase) -> dict[str, Counter[str]]:
    """What happened to each hostile class: HTTP answers, or dead-letter reasons (and none)."""
    sent = phase.hostile or HostileSent()
    found = {
        h.name: Counter(sent.answers.get(h.name, {})) + sent.unsent.get(h.name, Counter()) for h in HOSTILE
    }
    for letter in phase.dead_letters:
        if (name := sent.records.get(letter.source)) is not None:
            found[name][f"dead letter {letter.reason}" + (" (stub)" if letter.stub else "")] += 1
    for name, sources in without_dead_letter(phase.hostile, phase.dead_letters).items():
        found[name]["no dead letter"] += len(sources)
    return found


def without_dead_letter(sent: HostileSent | None, letters: Sequence[DeadLetter]) -> dict[str, list[str]]:
    """The hostile Kafka records that got no dead letter (``topic/partition/offset``), by class."""
    lettered = {letter.source for letter in letters}
    missing: dict[str, list[str]] = defaultdict(list)
    for source, name in (sent or HostileSent()).records.items():
        if source not in lettered:
            missing[name].append(source)
    return missing


def _alarms(phase: Phase) -> Counter[str]:
    """The alarming log lines by what they say (their ``event``), for a person to follow up."""
    events: Counter[str] = Counter()
    for line in phase.log_alarms:
        try:
            entry = json.loads(line)
            events[f"{entry.get('logger', '?')}: {entry.get('event', line)}"[:300]] += 1
        except (ValueError, AttributeError):
            events[line[:300]] += 1
    return events


def rows(clean: Phase, hostile: Phase) -> list[Row]:
    """The table of issue 15's benchmark, each measure beside its target."""
    both = (clean, hostile)
    sent = hostile.hostile or HostileSent()
    sealed_all = all(p.sdk.count == p.sdk_sent for p in both)
    api_all = all(p.api.count == p.api_answers["201"] for p in both)
    api_answered = all(p.api_answers.total() == p.api_answers["201"] for p in both)
    p99_ok = hostile.sdk.p99_s < P99_TARGET_S and hostile.sdk.p99_s <= P99_RATIO_TARGET * clean.sdk.p99_s
    strays = sum(_stray_letters(p).total() for p in both)
    failures = sum(len(p.exited) + len(p.log_alarms) for p in both)
    return [
        Row.of("SDK events/s offered", lambda p: p.sdk_rate, both, target=f"{GOOD_RATE:,}"),
        Row.counts("SDK events sealed / sent", lambda p: f"{p.sdk.count:,} / {p.sdk_sent:,}", both,
                   sealed_all),
        Row.of("good-event seal latency p50 (ms)", lambda p: p.sdk.p50_s * 1000, both),
        Row.of("good-event seal latency p99 (ms)", lambda p: p.sdk.p99_s * 1000, both,
               target="< 1,000, <= 1.5x", met=p99_ok),
        Row.counts("API RunEvents sealed / accepted", lambda p: f"{p.api.count:,} / {p.api_answers['201']:,}",
                   both, api_all),
        Row.of("API RunEvent seal latency p99 (ms)", lambda p: p.api.p99_s * 1000, both),
        Row.of("good RunEvents answered other than 201",
               lambda p: p.api_answers.total() - p.api_answers["201"], both, target="0", met=api_answered),
        Row.of("sealer peak RSS (MiB)", lambda p: p.sealer_rss / MIB, both, target="< 300 MB",
               met=hostile.sealer_rss < SEALER_RSS_TARGET),
        Row.of("API peak RSS (MiB)", lambda p: p.api_rss / MIB, both, target="< 256 MB",
               met=hostile.api_rss < API_RSS_TARGET),
        Row.of("sealer CPU (s)", lambda p: p.sealer_cpu, both, "{:,.1f}"),
        Row.of("API CPU (s)", lambda p: p.api_cpu, both, "{:,.1f}"),
        *_server_rows(both),
        Row.of("CPU of other work on the machine (s)", lambda p: p.bystanders_cpu, both, "{:,.1f}", "~0"),
        Row.of("machine busy while traffic flows (%)", lambda p: p.machine_busy * 100, both),
        Row("hostile inputs/s sent", "0", f"{sent.sent.total() / (sent.seconds or 1):,.0f}", "",
            f"{sent.rate:,}"),
        Row("hostile HTTP answers not 4xx", "0", f"{_http_failures(hostile):,}", "", "0",
            _met(_http_failures(hostile) == 0)),
        Row.of("dead letters", lambda p: len(p.dead_letters), both),
        Row.of("dead letters of good records", lambda p: _stray_letters(p).total(), both, target="0",
               met=strays == 0),
        Row.of("events sealed not of good jobs", lambda p: p.other_sealed.total(), both, target="0",
               met=not any(p.other_sealed for p in both)),
        Row.of("processes exited + log alarms", lambda p: len(p.exited) + len(p.log_alarms), both, target="0",
               met=failures == 0),
    ]  # fmt: skip


def _server_rows(both: tuple[Phase, Phase]) -> list[Row]:
    """The broker's and Postgres' CPU, and the broker's growth within each phase (:class:`ServerLoad`)."""
    if not all(p.servers for p in both):
        return []
    return [
        Row.of("broker CPU (s)", lambda p: p.servers["broker"].seconds, both, "{:,.1f}"),
        Row(
            "broker CPU, first / last 10 s (% of a core)",
            *(f"{p.servers['broker'].first:.0%} / {p.servers['broker'].last:.0%}" for p in both),
        ),
        Row.of("Postgres CPU (s)", lambda p: p.servers["Postgres"].seconds, both, "{:,.1f}"),
    ]


def print_report(clean: Phase, hostile: Phase, table: list[Row]) -> None:
    """The table, each hostile class with what happened to it, then anything that went wrong."""
    lines = [HEADER, *(row.cells() for row in table)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    print(f"\nprovledger under hostile input, {clean.sdk_sent // GOOD_RATE} s a phase (2 shared cores)")
    for line in lines:
        print(
            "  ".join(
                [line[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True))]
            )
        )
    sent = hostile.hostile or HostileSent()
    found = outcomes(hostile)
    print(f"\nhostile classes ({sent.rate:,}/s in all): /s | expected | sent | observed")
    for h in HOSTILE:
        observed = "; ".join(f"{what} x {n:,}" for what, n in found[h.name].most_common())
        observed = observed if h.name in sent.classes else "excluded (--exclude)"
        print(f"  {h.name:<32} {h.rate:>3} | {h.expected:<21} | {sent.sent[h.name]:>6,} | {observed}")
    for phase in (clean, hostile):
        problems = [
            *phase.exited,
            *(f"{n:,} dead letters of good records: {why}" for why, n in _stray_letters(phase).items()),
            *(f"{n:,} events sealed of job {job!r}" for job, n in phase.other_sealed.items()),
        ]
        problems += [f"log, {n:,} x: {event}" for event, n in _alarms(phase).most_common()]
        for problem in problems:
            print(f"{phase.name}: {problem}")


def figures(table: list[Row]) -> list[Figure]:
    """The table's numeric rows as figures (hostile beside clean), for the JSON summary."""
    out = []
    for row in table:
        with contextlib.suppress(ValueError):
            hostile, clean = (float(cell.replace(",", "")) for cell in (row.hostile, row.clean))
            out.append(Figure(row.measure, hostile, "", clean, "clean run"))
    return out


# Wiring. -----------------------------------------------------------------------------------------

WARM_UP_EVENTS = 100_000


def api_token(tokens_file: Path) -> str:
    """An ``emit,read`` token from ``provledger tokens create``, as an operator makes one."""
    created = subprocess.run(
        [sys.executable, "-m", "provledger", "tokens", "create", "--scopes", "emit,read",
         "--name", "bench-hostile", "--tokens-file", str(tokens_file)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return created.stdout.strip()


async def run(args: argparse.Namespace, servers: LocalServers, folder: Path) -> tuple[Phase, Phase]:
    """Warm Postgres up, then the clean phase, then the hostile one."""
    admin_url, bootstrap = servers.database_url, servers.kafka_bootstrap
    check_loopback(bootstrap, "http://127.0.0.1")  # before any phase, not when the hostile one starts
    settings = load(SealerSettings)
    key_file = folder / "bench.pem"
    generate_key_file(key_file, settings.signing_key_name)
    tokens_file = folder / "tokens.jsonl"
    token = await asyncio.to_thread(api_token, tokens_file)
    # As in bench_seal: the first writes to a new Postgres cost more; no measured phase pays them.
    backlog = f"bench.{uuid.uuid4().hex[:8]}.warm-up"
    await create_topic(bootstrap, backlog)
    await emit(bootstrap, backlog, WARM_UP_EVENTS, None)
    await warm_up(admin_url, bootstrap, backlog, WARM_UP_EVENTS, settings.batch_max_records)
    # The attacker stands for a client on another machine: at the lowest priority its CPU is not
    # taken from the ledger's processes on these two shared cores (--attacker-nice 0 to compare).
    with ProcessPoolExecutor(
        1, mp_context=get_context("spawn"), initializer=os.nice, initargs=(args.attacker_nice,)
    ) as pool:
        await asyncio.get_running_loop().run_in_executor(pool, int)  # its imports are not timed
        classes = tuple(h for h in HOSTILE if not any(word in h.name for word in args.exclude))
        bench = Bench(
            admin_url, bootstrap, folder, key_file, token, tokens_file, args.seconds, pool, classes,
            server_pids(servers),
        )  # fmt: skip
        clean = await run_phase(bench, "clean", hostile=False)
        hostile = await run_phase(bench, "hostile", hostile=True)
    return clean, hostile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase's traffic")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON summary")
    parser.add_argument(
        "--logs",
        type=Path,
        help="keep the sealer's and API's logs, the good events' latency second by second and each "
        "block's timing here (default: discarded)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="WORDS",
        help="leave out the hostile classes whose name holds WORDS (repeatable), to see what the rest cost",
    )
    parser.add_argument(
        "--attacker-nice",
        type=int,
        default=19,
        help="niceness of the hostile sender's process (default 19: a client elsewhere, whose CPU is not "
        "the ledger's; 0 shares the cores equally)",
    )
    args = parser.parse_args(argv)
    with bench_servers("bench-hostile-") as (servers, scratch):
        folder = args.logs or scratch
        folder.mkdir(parents=True, exist_ok=True)
        clean, hostile = run_blocking(lambda: run(args, servers, folder))
    table = rows(clean, hostile)
    print_report(clean, hostile, table)
    write_summary(
        args.json,
        "hostile",
        figures(table),
        seconds=args.seconds,
        good_rate=GOOD_RATE,
        api_good_rate=API_GOOD_RATE,
        hostile_rate=(hostile.hostile or HostileSent()).rate,
        excluded=args.exclude,
        attacker_nice=args.attacker_nice,
        partitions=PARTITIONS,
        table=[dict(zip(HEADER, row.cells(), strict=True)) for row in table],
        classes={
            h.name: {
                "rate": h.rate,
                "expected": h.expected,
                "observed": dict(outcomes(hostile)[h.name]),
                "without_dead_letter": without_dead_letter(hostile.hostile, hostile.dead_letters).get(
                    h.name, []
                )[:100],
            }
            for h in HOSTILE
        },
        log_alarms={phase.name: dict(_alarms(phase)) for phase in (clean, hostile)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
