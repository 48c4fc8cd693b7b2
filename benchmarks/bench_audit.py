"""Benchmark ``provledger audit`` on one large shard, beside the floor of reading and hashing its events.

Fills a fresh database with one shard of N events (blocks of B events, sealed by the real
``ShardLog`` and written by ``write_block``), then measures, each in its own process so peak
memory is the audit's alone:

* the audit (:func:`provledger.audit.audit_ledger`): events/s and peak RSS;
* the baseline: the same events streamed through a server-side cursor and SHA-256 hashed, with
  no other check (what any audit must at least do).

Run at two sizes, it shows memory does not grow with the shard (the audit streams), so 10^7
events need only time. Usage::

    python benchmarks/bench_audit.py [--events 1000000] [--small 100000] [--block-events 5000]
        [--database-url postgresql://...] [--json PATH]

Without ``--database-url`` an embedded PostgreSQL is started in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from provledger.audit import audit_ledger
from provledger.events.rows import EventRow, ShardState
from provledger.ledger.block import GENESIS_PREV_HASH
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import leaf_hash
from provledger.local.postgres import EmbeddedPostgres
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, write_block
from provledger.store.keys import register_key
from provledger.store.migrate import migrate_database
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "audit.json"
LOG_ORIGIN = "bench.local/ledger"
START_US = 1_700_000_000_000_000


def synthetic_events(first: int, count: int) -> list[EventRow]:
    events = []
    for offset in range(first, first + count):
        canonical = b"%d " % offset + bytes(200)  # about the size of a real event's canonical bytes
        events.append(EventRow(str(uuid.uuid4()), canonical, leaf_hash(canonical), START_US + offset,
                               "COMPLETE", "run", None, "bench", "job", (), (), offset))  # fmt: skip
    return events


async def fill(dsn: str, events: int, block_events: int) -> None:
    """One shard of ``events`` events, sealed and written exactly as the sealer does."""
    key = SigningKey.generate("bench.local/sealer")
    conn = await asyncpg.connect(dsn)
    try:
        await register_key(conn, key.verifier, 0)
        shard = await ensure_shard(conn, "provledger.events", 0)
        log = ShardLog(ShardState(shard, 0, GENESIS_PREV_HASH, 0, 0, (), ()), LOG_ORIGIN)
        for first in range(0, events, block_events):
            count = min(block_events, events - first)
            block = log.seal(synthetic_events(first, count), first, first + count - 1, key, START_US + first)
            await write_block(conn, block, first)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def measure(dsn: str, mode: str) -> dict[str, float]:
    """Run the audit or the baseline; seconds and events seen (runs in a child process)."""
    conn = await asyncpg.connect(dsn)
    try:
        start = time.perf_counter()
        if mode == "audit":
            report = await audit_ledger(conn)
            if not report.ok:
                raise SystemExit(f"the benchmark ledger does not audit clean: {report.to_json()['totals']}")
            events = report.totals()["events"]
        else:
            events = 0
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                cursor = await conn.cursor(
                    "SELECT leaf_index, canonical FROM events WHERE shard = 0 ORDER BY leaf_index"
                )
                while rows := await cursor.fetch(2000):
                    for row in rows:
                        sha256(b"\x00" + row["canonical"]).digest()
                    events += len(rows)
        seconds = time.perf_counter() - start
    finally:
        await conn.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "events": events, "peak_rss_mb": peak_kib / 1024}


def _child(dsn: str, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", mode, "--database-url", dsn],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


def _database(server_dsn: str, name: str) -> str:
    async def create() -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))


def run(server_dsn: str, sizes: list[int], block_events: int, json_path: Path) -> None:
    figures: list[Figure] = []
    for size in sizes:
        dsn = _database(server_dsn, f"bench_audit_{size}")
        asyncio.run(migrate_database(dsn))
        started = time.perf_counter()
        asyncio.run(fill(dsn, size, block_events))
        print(f"filled {size:,} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        audit, floor = _child(dsn, "audit"), _child(dsn, "baseline")
        figures += [
            Figure(f"audit events/s at {size:,} events", audit["events"] / audit["seconds"], "events/s",
                   floor["events"] / floor["seconds"], "stream + SHA-256 only"),
            Figure(f"audit peak RSS at {size:,} events", audit["peak_rss_mb"], "MB",
                   floor["peak_rss_mb"], "stream + SHA-256 only"),
        ]  # fmt: skip
    print_figures(
        "provledger audit, one shard (measured on a shared 2-core machine, under contention)", figures
    )
    write_summary(json_path, "audit", figures, sizes=sizes, block_events=block_events)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--small", type=int, default=100_000, help="A second, smaller size to compare memory."
    )
    parser.add_argument("--block-events", type=int, default=5000)
    parser.add_argument("--database-url", help="A server to create the benchmark databases on.")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--measure", choices=("audit", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.database_url, args.measure))))
        return
    sizes = sorted({args.small, args.events})
    if args.database_url:
        run(args.database_url, sizes, args.block_events, args.json)
        return
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", Path(tmp) / "postgres.log", durable=False)
        server.start()
        try:
            run(server.database_url, sizes, args.block_events, args.json)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
