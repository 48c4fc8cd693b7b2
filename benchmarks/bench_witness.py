"""The witness (issue 18): add-checkpoint latency and requests/s, beside a no-op handler on the same server.

One ``provledger witness`` app serves, from one uvicorn process, its real routes over a fresh
SQLite state file on disk (WAL, an fsync per commit) and one more route, ``POST /noop``, that
reads the body the same bounded way and answers 200 with nothing: the baseline, costing
everything but the witness's work (HTTP, the event loop, the client). Measured in one run:

* ``paced``: **latency p50/p99** with ``--logs`` logs (100) each advancing once a second for
  ``--seconds``, their ticks spread evenly over the second, each request moving its log by 7
  leaves with a real RFC 9162 consistency proof (~10 lines) and a freshly signed checkpoint; then
  the same schedule against ``/noop``. Target: witness p99 under 20 ms.
* ``saturation``: **requests/s** with every log a closed loop (its next request as soon as its
  answer comes) for ``--saturation-seconds``: the most the witness answers on this machine, with
  the server's CPU per request; then the same against ``/noop``.
* ``commit`` (:mod:`witness_latency`): **the time from a block's commit to its first witnessed
  checkpoint**, p50/p99, with a real anchorer every ``--interval`` s (10), two real witnesses and
  real Postgres, beside the time to the anchorer's statement covering the same blocks.

``--phases`` picks ``add-checkpoint`` (paced and saturation), ``commit``, or both (the default).

Bodies are built by this process before they are sent (signing ~35 µs, proofs cached by size),
outside the timed interval of each request. Usage::

    .venv/bin/python benchmarks/bench_witness.py            # 30 s paced + 10 s saturated, each twice
    .venv/bin/python benchmarks/bench_witness.py --quick    # short phases, a 2 s interval: a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import psutil

from provledger.ledger.checkpoint import Checkpoint, sign_checkpoint
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import consistency_proof, leaf_hash, root
from provledger.local.process import ManagedProcess, free_port
from provledger.witness.protocol import ADD_CHECKPOINT_PATH, format_add_checkpoint
from report import Figure, print_figures, write_summary
from witness_latency import CommitOptions, measure_commit

DEFAULT_JSON = Path(__file__).parent / "results" / "witness.json"
NOOP_PATH = "/noop"
LOG_NAME = "bench.example/ledger"
START_SIZE = 1000
STEP = 7
READY_TIMEOUT_S = 30.0
PHASES = ["add-checkpoint", "commit"]


def serve(folder: Path, port: int) -> None:
    """The server process: the witness's app over ``folder``'s files, plus the no-op route."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from provledger import logs as logging
    from provledger.config import load
    from provledger.keyfiles import load_signing_key
    from provledger.witness.app import WitnessApp, create_app, read_body, server
    from provledger.witness.settings import WitnessSettings

    settings = load(
        WitnessSettings,
        witness_key_file=folder / "witness.pem",
        witness_name="bench.example/witness",
        witness_logs_file=folder / "logs.txt",
        witness_state_file=folder / "witness.sqlite3",
        witness_port=port,
        log_level="WARNING",
    )
    logging.configure(settings.log_level, settings.log_format)
    witness_app = WitnessApp(
        load_signing_key(settings.require_key_file(), settings.witness_name),
        settings.require_logs(),
        settings,
    )

    async def noop(request: Request) -> Response:
        await read_body(request, settings.witness_max_body_bytes)
        return Response(b"", 200)

    server(settings, create_app(witness_app, [Route(NOOP_PATH, noop, methods=["POST"])])).run()


@dataclass
class Logs:
    """``count`` logs of one key (as provledger's shards are), sharing one sequence of leaves."""

    count: int
    key: SigningKey = field(default_factory=lambda: SigningKey.generate(LOG_NAME))
    leaves: list[bytes] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    _proofs: dict[int, list[bytes]] = field(default_factory=dict)
    _roots: dict[int, bytes] = field(default_factory=dict)

    def origin(self, index: int) -> str:
        return f"{LOG_NAME}/shard/{index}"

    def _grow_to(self, size: int) -> None:
        while len(self.leaves) < size:
            self.leaves.append(leaf_hash(b"leaf %d" % len(self.leaves)))

    def body(self, index: int, old: int, new: int) -> bytes:
        """An add-checkpoint body moving log ``index`` from ``old`` to ``new`` leaves."""
        self._grow_to(new)
        if new not in self._roots:
            self._roots[new] = root(self.leaves[:new])
        proof: list[bytes] = []
        if old:
            if old not in self._proofs:
                self._proofs[old] = consistency_proof(self.leaves[:new], old)
            proof = self._proofs[old]
        note = sign_checkpoint(Checkpoint(self.origin(index), new, self._roots[new]), [self.key])
        return format_add_checkpoint(old, proof, note)


@dataclass
class Phase:
    """What one phase measured: per-request seconds, answers by status, wall and server CPU time."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def quantile_ms(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1] * 1000


class Client:
    """Posts bodies on kept-alive connections and times each answer."""

    def __init__(self, url: str, server_pid: int, logs: Logs) -> None:
        self.url = url
        self.logs = logs
        self.sizes = [START_SIZE] * logs.count
        self._server = psutil.Process(server_pid)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self._session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, path: str, body: bytes, phase: Phase) -> int:
        assert self._session is not None
        started = time.perf_counter()
        async with self._session.post(self.url + path, data=body) as answer:
            await answer.read()
        phase.latencies.append(time.perf_counter() - started)
        phase.statuses[answer.status] = phase.statuses.get(answer.status, 0) + 1
        return answer.status

    async def start_logs(self) -> None:
        """Every log's first checkpoint (old 0), not measured."""
        warm = Phase()
        for index in range(self.logs.count):
            await self._post(ADD_CHECKPOINT_PATH, self.logs.body(index, 0, START_SIZE), warm)
        if warm.statuses != {200: self.logs.count}:
            raise RuntimeError(f"the witness refused the logs' first checkpoints: {warm.statuses}")

    async def request(self, path: str, index: int, phase: Phase) -> None:
        """Advance log ``index`` by one step (at ``path``: the witness, or the no-op baseline)."""
        old = self.sizes[index]
        body = self.logs.body(index, old, old + STEP)
        status = await self._post(path, body, phase)
        if path == ADD_CHECKPOINT_PATH and status == 200:
            self.sizes[index] = old + STEP

    async def run(self, phase_body: Callable[[Phase], Awaitable[None]]) -> Phase:
        phase = Phase()
        cpu = self._server.cpu_times()
        started = time.perf_counter()
        await phase_body(phase)
        phase.wall_s = time.perf_counter() - started
        after = self._server.cpu_times()
        phase.cpu_s = (after.user + after.system) - (cpu.user + cpu.system)
        return phase

    async def paced(self, path: str, seconds: float) -> Phase:
        """Each log once a second, ticks spread evenly over the second."""

        async def ticking(index: int, phase: Phase, start: float) -> None:
            tick = 0
            while (due := start + index / self.logs.count + tick) < start + seconds:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                await self.request(path, index, phase)
                tick += 1

        async def body(phase: Phase) -> None:
            start = time.perf_counter()
            await asyncio.gather(*(ticking(i, phase, start) for i in range(self.logs.count)))

        return await self.run(body)

    async def saturated(self, path: str, seconds: float) -> Phase:
        """Each log a closed loop: its next request as soon as its answer came."""

        async def looping(index: int, phase: Phase, end: float) -> None:
            while time.perf_counter() < end:
                await self.request(path, index, phase)

        async def body(phase: Phase) -> None:
            end = time.perf_counter() + seconds
            await asyncio.gather(*(looping(i, phase, end) for i in range(self.logs.count)))

        return await self.run(body)


def _check(name: str, phase: Phase, path: str) -> None:
    if path == ADD_CHECKPOINT_PATH and set(phase.statuses) != {200}:
        raise RuntimeError(f"{name}: the witness did not cosign every request: {phase.statuses}")
    print(f"{name}: {phase.requests} requests in {phase.wall_s:.1f} s, answers {phase.statuses}", flush=True)


async def measure(url: str, pid: int, logs: Logs, args: argparse.Namespace) -> list[Figure]:
    async with Client(url, pid, logs) as client:
        await client.start_logs()
        # A short unmeasured pass warms the connections, the caches and both routes.
        await client.saturated(NOOP_PATH, 0.5)
        await client.saturated(ADD_CHECKPOINT_PATH, 0.5)
        paced = await client.paced(ADD_CHECKPOINT_PATH, args.seconds)
        _check("paced witness", paced, ADD_CHECKPOINT_PATH)
        paced_noop = await client.paced(NOOP_PATH, args.seconds)
        _check("paced no-op", paced_noop, NOOP_PATH)
        full = await client.saturated(ADD_CHECKPOINT_PATH, args.saturation_seconds)
        _check("saturated witness", full, ADD_CHECKPOINT_PATH)
        full_noop = await client.saturated(NOOP_PATH, args.saturation_seconds)
        _check("saturated no-op", full_noop, NOOP_PATH)
    noop = "no-op handler, same server"
    return [
        Figure("add-checkpoint p50, 100 logs at 1/s", paced.quantile_ms(0.50), "ms",
               paced_noop.quantile_ms(0.50), noop),
        Figure("add-checkpoint p99, 100 logs at 1/s", paced.quantile_ms(0.99), "ms",
               paced_noop.quantile_ms(0.99), noop),
        Figure("add-checkpoint max, 100 logs at 1/s", max(paced.latencies) * 1000, "ms",
               max(paced_noop.latencies) * 1000, noop),
        Figure("requests/s, 100 logs at 1/s", paced.requests / paced.wall_s, "req/s",
               paced_noop.requests / paced_noop.wall_s, noop),
        Figure("server CPU per request, 1/s", paced.cpu_s / paced.requests * 1e6, "µs",
               paced_noop.cpu_s / paced_noop.requests * 1e6, noop),
        Figure("requests/s, saturated (100 closed loops)", full.requests / full.wall_s, "req/s",
               full_noop.requests / full_noop.wall_s, noop),
        Figure("p99 saturated", full.quantile_ms(0.99), "ms", full_noop.quantile_ms(0.99), noop),
        Figure("server CPU per request, saturated", full.cpu_s / full.requests * 1e6, "µs",
               full_noop.cpu_s / full_noop.requests * 1e6, noop),
    ]  # fmt: skip


def _write_files(folder: Path, logs: Logs) -> None:
    (folder / "witness.pem").write_bytes(SigningKey.generate("bench.example/witness").to_pem())
    key = logs.key.verifier.verifier_key_string()
    (folder / "logs.txt").write_text("".join(f"log {logs.origin(i)} {key}\n" for i in range(logs.count)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logs", type=int, default=100, help="logs, each advancing once a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each paced phase")
    parser.add_argument(
        "--saturation-seconds", type=float, default=10.0, help="length of each saturated phase"
    )
    parser.add_argument(
        "--phases",
        type=lambda s: s.split(","),
        default=PHASES,
        help=f"comma-separated, of {', '.join(PHASES)}",
    )
    parser.add_argument("--interval", type=float, default=10.0, help="commit: the anchor interval, seconds")
    parser.add_argument(
        "--commit-seconds", type=float, default=300.0, help="commit: how long blocks are sealed"
    )
    parser.add_argument("--shards", type=int, default=4, help="commit: shards, each one block a round")
    parser.add_argument("--block-every", type=float, default=0.5, help="commit: seconds between rounds")
    parser.add_argument(
        "--quick", action="store_true", help="5 s paced, 3 s saturated, 12 s of commits at a 2 s interval"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the summary goes")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    if args.quick:
        args.seconds, args.saturation_seconds = 5.0, 3.0
        args.interval, args.commit_seconds, args.shards = 2.0, 12.0, 2
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; known: {', '.join(PHASES)}")
    figures: list[Figure] = []
    if "add-checkpoint" in args.phases:
        figures += add_checkpoint(args)
    if "commit" in args.phases:
        options = CommitOptions(args.interval, args.commit_seconds, args.shards, args.block_every)
        figures += asyncio.run(measure_commit(options))
    print_figures("witness (issue 18)", figures)
    write_summary(
        args.json, "witness", figures, phases=args.phases, logs=args.logs, seconds=args.seconds,
        saturation_seconds=args.saturation_seconds, step=STEP, start_size=START_SIZE,
        interval_s=args.interval, commit_seconds=args.commit_seconds, shards=args.shards,
        block_every_s=args.block_every,
    )  # fmt: skip


def add_checkpoint(args: argparse.Namespace) -> list[Figure]:
    """The paced and saturation phases against one witness server; their figures."""
    logs = Logs(args.logs)
    # On the disk, not a tmpfs: an fsync per commit is part of what is measured.
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.json.parent, prefix="witness-") as tmp:
        folder = Path(tmp)
        _write_files(folder, logs)
        port = free_port()
        process = ManagedProcess(
            "witness",
            [sys.executable, __file__, "--serve", str(folder), str(port)],
            folder / "witness.log",
        )
        url = f"http://127.0.0.1:{port}"
        try:

            def probe() -> None:
                httpx.get(f"{url}/readyz", timeout=2).raise_for_status()

            process.wait_ready(probe, READY_TIMEOUT_S, "/readyz")
            figures = asyncio.run(measure(url, process.pid, logs, args))
        except (RuntimeError, subprocess.SubprocessError):
            print(process.log_tail(), file=sys.stderr)
            raise
        finally:
            process.stop()
    return figures


if __name__ == "__main__":
    main()
