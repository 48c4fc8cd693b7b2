"""Evidence endpoint latency and throughput at 10^6 sealed events, beside a primary-key SELECT.

Bulk-loads one shard with ``--events`` sealed events (the sealer's own ShardLog and write_block,
in blocks of ``--block`` events) into an embedded Postgres, then times, through the same asyncpg
pool the API uses: (a) ``GET /v1/events/{id}/evidence`` served by the real FastAPI app in process
(routing, auth, two queries, proof assembly, JSON), and (b) the plain
``SELECT ... FROM events WHERE event_id = $1`` baseline. Latency is measured one request at a
time over random events; requests/s with ``--concurrency`` requests in flight.

    .venv/bin/python benchmarks/bench_api.py            # 10^6 events, about two minutes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from provledger.api.app import create_app
from provledger.api.tokens import create_token, parse_scopes
from provledger.config import ApiSettings, load
from provledger.events.rows import EventRow
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import leaf_hash
from provledger.local import local_servers
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block
from provledger.store.keys import register_key
from provledger.store.migrate import migrate_database
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path("benchmarks/results/api.json")
LOG_ORIGIN = "bench.provledger/ledger"
SEED = 6


async def load_events(dsn: str, count: int, block: int, key: SigningKey | None = None) -> list[uuid.UUID]:
    """Seal ``count`` synthetic 230-byte events into one shard (with ``key``, else a new one); their ids."""
    rng = random.Random(SEED)
    key = key or SigningKey.generate(LOG_ORIGIN)
    conn = await asyncpg.connect(dsn)
    ids: list[uuid.UUID] = []
    try:
        await register_key(conn, key.verifier, 0)
        shard = await ensure_shard(conn, "provledger.events", 0)
        log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
        started = time.perf_counter()
        for first in range(0, count, block):
            accepted = []
            for offset in range(first, min(count, first + block)):
                canonical = rng.randbytes(230)
                event_id = uuid.UUID(int=rng.getrandbits(128))
                ids.append(event_id)
                run_id = str(uuid.UUID(int=offset // 50))
                moment = 1_700_000_000_000_000 + offset
                accepted.append(
                    EventRow(str(event_id), canonical, leaf_hash(canonical), moment, "COMPLETE", run_id, None,
                             "bench", "train", (), (), offset)
                )  # fmt: skip
            sealed = log.seal(accepted, first, first + len(accepted) - 1, key, time.time_ns() // 1000)
            await write_block(conn, sealed, first)
        print(f"loaded {count:,} events in {time.perf_counter() - started:.1f} s")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return ids


async def timed(call: Callable[[uuid.UUID], Awaitable[None]], ids: list[uuid.UUID]) -> list[float]:
    """Seconds per call, one at a time."""
    latencies = []
    for event_id in ids:
        started = time.perf_counter()
        await call(event_id)
        latencies.append(time.perf_counter() - started)
    return latencies


async def throughput(
    call: Callable[[uuid.UUID], Awaitable[None]], ids: list[uuid.UUID], concurrency: int
) -> float:
    """Calls per second with ``concurrency`` in flight."""
    queue = list(ids)

    async def worker() -> None:
        while queue:
            await call(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(ids) / (time.perf_counter() - started)


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] * 1000


@contextlib.asynccontextmanager
async def api_client(
    dsn: str, tmp: Path, pool_size: int
) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool]]:
    """The real API app in process with a read token, and the asyncpg pool it serves from."""
    tokens_file = tmp / f"tokens-{uuid.uuid4().hex[:8]}"  # a token name is unique in its file
    token = create_token(tokens_file, parse_scopes("read"), "bench")
    settings = load(ApiSettings, database_url=dsn, kafka_bootstrap="127.0.0.1:9", tokens_file=tokens_file,
                    log_origin=LOG_ORIGIN, db_pool_max=pool_size)  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as client:
            yield client, app.state.pool


async def measure(dsn: str, ids: list[uuid.UUID], requests: int, concurrency: int, tmp: Path) -> list[Figure]:
    """Evidence p50/p99 and requests/s over ``requests`` random events, beside a primary-key SELECT."""
    rng = random.Random(SEED + 1)
    sample = [rng.choice(ids) for _ in range(requests)]
    async with api_client(dsn, tmp, concurrency) as (client, pool):

        async def evidence(event_id: uuid.UUID) -> None:
            response = await client.get(f"/v1/events/{event_id}/evidence")
            if response.status_code != 200:
                raise RuntimeError(response.text)

        async def select(event_id: uuid.UUID) -> None:
            async with pool.acquire() as conn:
                await conn.fetchrow("SELECT * FROM events WHERE event_id = $1", event_id)

        for call in (evidence, select):  # warm the pool, caches and code paths
            await timed(call, sample[:200])
        api_lat = await timed(evidence, sample)
        sql_lat = await timed(select, sample)
        api_rps = await throughput(evidence, sample, concurrency)
        sql_rps = await throughput(select, sample, concurrency)
    baseline = "PK SELECT, same pool"
    return [
        Figure("evidence p50", _quantile(api_lat, 0.50), "ms", _quantile(sql_lat, 0.50), baseline),
        Figure("evidence p99", _quantile(api_lat, 0.99), "ms", _quantile(sql_lat, 0.99), baseline),
        Figure(f"evidence requests/s ({concurrency} in flight)", api_rps, "req/s", sql_rps, baseline),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="sealed events (default 10^6)")
    parser.add_argument("--block", type=int, default=20_000, help="events per block while loading")
    parser.add_argument("--requests", type=int, default=5_000, help="timed requests of each kind")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight for requests/s")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"summary path (default {DEFAULT_JSON})"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp, local_servers(
        data_dir=Path(tmp), database_url=os.environ.get("PROVLEDGER_DATABASE_URL"), durable=False
    ) as servers:  # fmt: skip
        asyncio.run(migrate_database(servers.database_url))
        ids = asyncio.run(load_events(servers.database_url, args.events, args.block))
        figures = asyncio.run(measure(servers.database_url, ids, args.requests, args.concurrency, Path(tmp)))
    print_figures(
        f"evidence endpoint at {args.events:,} sealed events (2 shared cores, under contention)", figures
    )
    write_summary(args.json, "api", figures, events=args.events, block=args.block, requests=args.requests,
                  concurrency=args.concurrency, seed=SEED)  # fmt: skip


if __name__ == "__main__":
    main()
