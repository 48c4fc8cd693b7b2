"""The ``commit`` phase of ``bench_witness.py``: from a block's commit to its first witnessed checkpoint.

Against real servers (Postgres and the broker of ``bench_seal.bench_servers``), a real
``provledger anchorer`` process anchoring every ``--interval`` s (10) with two real ``provledger
witness`` processes in ``PROVLEDGER_WITNESSES``, and blocks sealed straight into the store as the
sealer does (``bench_anchor.Ledger``): a round of one block per shard every ``--block-every`` s
for ``--commit-seconds`` s, so commits fall evenly across the anchor interval.

A block is witnessed by the first stored cosignature of its shard at a tree size at or above its
own (the checkpoint its evidence bundle's ``tlog-witness`` receipt carries), timed by that row's
``stored_at``; its commit time is taken in this process when ``write_block`` returned (one
machine, one clock). Figures, p50 and p99 over every block:

* commit to the first cosignature (either witness), and to a cosignature of every witness (the
  demo's 2-of-2 policy);
* baseline, same blocks: commit to the anchorer's statement that covers it (``checkpoints``
  ``created_at``), what any anchor waits for; the witnesses' own cost is the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench_anchor import Ledger
from bench_seal import bench_servers, create_database, drop_databases, service_process
from provledger.keyfiles import generate_key_file
from provledger.ledger.checkpoint import shard_origin
from provledger.ledger.cosignature import cosigner
from provledger.ledger.keys import SigningKey
from provledger.local import LocalServers
from report import Figure

DATABASE = "bench_witness_commit"
LOG_ORIGIN = "bench.example/ledger"
WITNESSES = 2
#: Events in each block: small, so sealing a round costs milliseconds and never drifts the pacing.
BLOCK_EVENTS = 20
#: How long the last blocks may take to be cosigned after sealing stops, past one interval.
WITNESS_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CommitOptions:
    """The phase's knobs (``bench_witness.py`` flags)."""

    interval_s: float
    seconds: float
    shards: int
    block_every_s: float


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@contextlib.asynccontextmanager
async def witness_process(
    folder: Path, index: int, shard_ids: list[int], sealer: SigningKey
) -> AsyncIterator[str]:
    """A ready ``provledger witness`` of the ledger's shards; yields its ``PROVLEDGER_WITNESSES`` entry."""
    name = f"participant-{index}.bench/witness"
    home = folder / f"witness-{index}"
    home.mkdir()
    key = generate_key_file(home / "witness.pem", name)
    vkey = sealer.verifier.verifier_key_string()
    (home / "logs.txt").write_text("".join(f"log {shard_origin(LOG_ORIGIN, s)} {vkey}\n" for s in shard_ids))
    env = {
        "PROVLEDGER_WITNESS_KEY_FILE": str(home / "witness.pem"),
        "PROVLEDGER_WITNESS_NAME": name,
        "PROVLEDGER_WITNESS_LOGS_FILE": str(home / "logs.txt"),
        "PROVLEDGER_WITNESS_STATE_FILE": str(home / "witness.sqlite3"),
    }
    async with service_process(home, "witness", env, "PROVLEDGER_WITNESS_PORT") as (url, _):
        yield f"{cosigner(key).verifier_key_string()} {url}"


def _anchorer_env(servers: LocalServers, database_url: str, folder: Path, interval_s: float,
                  witnesses: list[str]) -> dict[str, str]:  # fmt: skip
    key_file = folder / "anchorer.pem"
    generate_key_file(key_file, "bench.example/anchorer")
    return {
        "PROVLEDGER_DATABASE_URL": database_url,
        "PROVLEDGER_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "PROVLEDGER_TOPIC_CHECKPOINTS": f"bench-witness-{uuid.uuid4().hex[:8]}.checkpoints",
        "PROVLEDGER_ANCHORER_KEY_FILE": str(key_file),
        "PROVLEDGER_ANCHOR_INTERVAL_S": str(interval_s),
        "PROVLEDGER_ANCHOR_HEARTBEAT_S": "86400",
        "PROVLEDGER_WITNESSES": ",".join(witnesses),
    }


async def _seal(ledger: Ledger, options: CommitOptions) -> dict[tuple[int, int], float]:
    """Seal a round every ``block_every_s`` for ``seconds``; each block's commit time (Unix seconds)."""
    committed: dict[tuple[int, int], float] = {}
    start = time.monotonic()
    rounds = int(options.seconds / options.block_every_s)
    for number in range(rounds):
        await asyncio.sleep(max(0.0, start + number * options.block_every_s - time.monotonic()))
        heights = [log.next_height for log in ledger.logs]
        await ledger.seal_round(1, BLOCK_EVENTS)
        now = time.time()
        for log, height in zip(ledger.logs, heights, strict=True):
            committed[(log.shard, height)] = now
    return committed


# Per block: its statement's created_at, and per witness the first cosignature at or above its size.
_WITNESSED = """
SELECT b.shard, b.height,
  extract(epoch FROM (SELECT min(c.created_at) FROM checkpoint_heads h JOIN checkpoints c USING (seq)
                      WHERE h.shard = b.shard AND h.height >= b.height)) AS anchored,
  (SELECT array_agg(extract(epoch FROM w.first)) FROM (
     SELECT min(s.stored_at) AS first FROM checkpoint_cosignatures s
     WHERE s.shard = b.shard AND s.tree_size >= b.tree_size GROUP BY s.witness_key) w) AS witnessed
FROM blocks b
"""


async def _wait_witnessed(conn: asyncpg.Connection, timeout_s: float) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await conn.fetch(_WITNESSED)
        if all(r["witnessed"] is not None and len(r["witnessed"]) == WITNESSES for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise RuntimeError(f"blocks not cosigned by every witness after {timeout_s} s: see the logs")
        await asyncio.sleep(0.5)


async def measure_commit(options: CommitOptions) -> list[Figure]:
    """The phase: seal, anchor and witness for ``options.seconds``; figures over every block."""
    with bench_servers("bench-witness-") as (servers, folder):
        database_url = await create_database(servers.database_url, DATABASE)
        sealer = SigningKey.generate("bench.example/sealer")
        conn = await asyncpg.connect(database_url)
        try:
            ledger = await Ledger.create(conn, sealer, LOG_ORIGIN, options.shards)
            shard_ids = [log.shard for log in ledger.logs]
            async with contextlib.AsyncExitStack() as stack:
                entries = [
                    await stack.enter_async_context(witness_process(folder, i, shard_ids, sealer))
                    for i in range(WITNESSES)
                ]
                env = _anchorer_env(servers, database_url, folder, options.interval_s, entries)
                await stack.enter_async_context(
                    service_process(folder, "anchorer", env, "PROVLEDGER_METRICS_PORT")
                )
                committed = await _seal(ledger, options)
                rows = await _wait_witnessed(conn, options.interval_s + WITNESS_TIMEOUT_S)
        finally:
            await conn.close()
            await drop_databases(servers.database_url, DATABASE)
    anchored, first, every = [], [], []
    for row in rows:
        at = committed[(row["shard"], row["height"])]
        anchored.append(float(row["anchored"]) - at)
        first.append(min(map(float, row["witnessed"])) - at)
        every.append(max(map(float, row["witnessed"])) - at)
    print(f"commit: {len(rows):,} blocks on {options.shards} shards, {WITNESSES} witnesses, "
          f"anchored every {options.interval_s:g} s", flush=True)  # fmt: skip
    base = "commit to covering statement, same blocks"
    figures = []
    for q in (0.50, 0.99):
        label, baseline = f"p{round(q * 100)}", _quantile(anchored, q)
        figures += [
            Figure(f"commit to first cosignature {label}", _quantile(first, q), "s", baseline, base),
            Figure(f"commit to {WITNESSES} of {WITNESSES} cosignatures {label}", _quantile(every, q), "s",
                   baseline, base),
        ]  # fmt: skip
    return [*figures, Figure("commit to first cosignature max", max(first), "s")]
