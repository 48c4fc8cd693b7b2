"""What a refused request costs the API: its CPU per request for each hostile HTTP class.

Hostile clients are answered with a 4xx, and at 1,000 hostile inputs/s those answers were most of
the CPU the attack cost (``bench_hostile.py``), so the figure to watch is the API's CPU per
refused request, on a quiet machine, apart from everything else. Each class of
:data:`hostile_inputs.HOSTILE` that goes through the API is sent ``--requests`` times (bombs a
twentieth of that) over ``--connections`` keep-alive connections of an aiohttp client, after a
warm-up; the CPU is the ``provledger api`` process's own (``/proc``), divided by the requests.

The baseline, measured in the same run with the same client: a bare ASGI app that answers 400
at once, served by the same uvicorn (httptools), which is what any Python HTTP server costs per
request before provledger does anything.

Usage: ``python benchmarks/bench_refusals.py [--requests 5000] [--connections 8] [--json PATH]``.
Servers are ``PROVLEDGER_DATABASE_URL`` / ``PROVLEDGER_KAFKA_BOOTSTRAP`` when set, else embedded
ones (refusals reach neither; the API only needs them to be ready).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench_hostile import api_token
from bench_seal import READY_TIMEOUT_S, bench_servers, create_database, service_process
from hostile_inputs import HOSTILE, HttpPoison, api_session, ask, http_poisons
from provledger.config import ApiSettings, load
from provledger.local import LocalServers
from provledger.local.probes import run_blocking
from provledger.local.process import ManagedProcess, free_port
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "refusals.json"
WARM_UP_REQUESTS = 200
#: The run id the hostile RunEvents carry: any will do, they are refused before it matters.
RUN_ID = "6f1e1e7e-8a3a-4a8e-9b53-1f6a0f0b8f3a"
BARE_ANSWER = b'{"type":"/problems/bad-gzip","status":400}'


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The baseline: read the body, answer 400 (an ASGI app uvicorn serves as ``bench_refusals:bare_app``)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": BARE_ANSWER})


@dataclass(frozen=True)
class Cost:
    """What one class of requests cost the server: CPU per request, the rate, and the answers."""

    cpu_us: float
    per_second: float
    answers: Counter[str]


async def measure(
    url: str, token: str, pid: int, poison: HttpPoison, requests: int, connections: int
) -> Cost:
    """Send ``poison`` ``requests`` times after a warm-up; the server's CPU per request."""
    server = psutil.Process(pid)
    answers: Counter[str] = Counter()
    async with api_session(url, token, connections) as session:
        in_flight = asyncio.Semaphore(connections)

        async def one() -> None:
            async with in_flight:
                answers[await ask(session, *poison)] += 1

        await asyncio.gather(*(one() for _ in range(WARM_UP_REQUESTS)))
        answers.clear()
        before, started = server.cpu_times(), asyncio.get_running_loop().time()
        await asyncio.gather(*(one() for _ in range(requests)))
        after, ended = server.cpu_times(), asyncio.get_running_loop().time()
    cpu = (after.user + after.system) - (before.user + before.system)
    return Cost(cpu / requests * 1e6, requests / (ended - started), answers)


@asynccontextmanager
async def bare_server(folder: Path) -> AsyncIterator[tuple[str, int]]:
    """The baseline app under uvicorn with the API's HTTP options; its URL and pid."""
    port = free_port()
    process = ManagedProcess(
        "bare-uvicorn",
        [sys.executable, "-m", "uvicorn", "bench_refusals:bare_app", "--app-dir", str(Path(__file__).parent),
         "--host", "127.0.0.1", "--port", str(port), "--http", "httptools", "--no-server-header",
         "--log-level", "warning"],
        folder / f"bare-{port}.log",
    )  # fmt: skip

    def probe() -> None:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

    try:
        await asyncio.to_thread(process.wait_ready, probe, READY_TIMEOUT_S, "a TCP connection")
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        await asyncio.to_thread(process.stop)


async def run(args: argparse.Namespace, servers: LocalServers, folder: Path) -> list[tuple[str, Cost]]:
    """The baseline's cost, then each HTTP class's, in that order."""
    token = await asyncio.to_thread(api_token, folder / "tokens.jsonl")
    poisons = http_poisons(RUN_ID, load(ApiSettings).max_ingest_bytes)
    costs: list[tuple[str, Cost]] = []
    async with bare_server(folder) as (url, pid):
        bare = await measure(url, token, pid, poisons["HTTP gzip + garbage"], args.requests, args.connections)
        costs.append(("bare uvicorn answering 400", bare))
    env = {
        "PROVLEDGER_DATABASE_URL": await create_database(servers.database_url, "bench_refusals"),
        "PROVLEDGER_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "PROVLEDGER_TOKENS_FILE": str(folder / "tokens.jsonl"),
    }
    async with service_process(folder, "api", env, "PROVLEDGER_API_PORT") as (url, api):
        for hostile in (h for h in HOSTILE if h.door == "http"):
            requests = args.requests if "bomb" not in hostile.name else max(1, args.requests // 20)
            costs.append((hostile.name, await measure(url, token, api.pid, poisons[hostile.name], requests,
                                                      args.connections)))  # fmt: skip
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5_000, help="requests of each class (bombs: 1/20)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections of the client")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON summary")
    args = parser.parse_args(argv)
    with bench_servers("bench-refusals-") as (servers, folder):
        costs = run_blocking(lambda: run(args, servers, folder))
    (_, bare), *classes = costs
    figures = [
        Figure(f"{name} (CPU)", cost.cpu_us, "us/request", bare.cpu_us, "bare uvicorn answering 400")
        for name, cost in costs
    ]
    print_figures("The API's CPU per refused request (one process, quiet machine)", figures)
    print("\nanswers: class | requests/s | what the API answered")
    for name, cost in classes:
        answered = ", ".join(f"{answer} x {count:,}" for answer, count in cost.answers.items())
        print(f"  {name:34} {cost.per_second:7,.0f} | {answered}")
    write_summary(args.json, "refusals", figures, requests=args.requests, connections=args.connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
