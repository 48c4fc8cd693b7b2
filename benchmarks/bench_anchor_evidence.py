"""The ``evidence`` phase of ``bench_anchor.py``: what anchoring adds to bundles and to verify.

Measured against ``bench_anchor.py``'s Postgres (a fresh database) and local RFC 3161 TSA, each
figure beside a baseline from the same run and the same data:

* ``evidence``: ``GET /v1/events/{id}/evidence`` p50/p99 and requests/s at ``--events`` sealed
  events (10^6 by default, ``bench_api.py``'s load, timing and in-process app), **after** an
  anchorer with the rfc3161 kind anchored the shard, so every bundle carries an rfc3161 receipt
  and its link (the anchored head's signed header and a consistency proof from the bundle's
  tree). Baseline: the same requests before anchoring (no receipt, a "next_anchor_due" instead).
  Target: p99 under 25 ms.
* ``verify``: the checks ``provledger verify --tsa-roots FILE --require rfc3161`` runs on one
  such bundle (:func:`provledger.commands.verify.check_bundle`: parsing, leaf, inclusion, header
  and checkpoint signatures, event id, the receipt's link and its RFC 3161 token against the
  roots), p50/p99 over ``--verifies`` runs in this process. Baseline: the same bundle with its
  receipts left out, checked without verifiers. Target: under 50 ms. The command's wall time,
  interpreter start and imports included, is printed beside ``provledger --help``'s.

Usage (through ``bench_anchor.py``, which owns the servers and the options)::

    .venv/bin/python benchmarks/bench_anchor.py --phases evidence            # 10^6 events, ~4 min
    .venv/bin/python benchmarks/bench_anchor.py --phases evidence --quick    # 20,000 events
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench_api import LOG_ORIGIN, api_client, load_events, measure
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.rfc3161 import make_kind
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.commands.verify import check_bundle, receipt_verifiers
from provledger.events.ids import new_event_id
from provledger.events.model import Event, EventType, Job, Run
from provledger.ledger.keys import KeySet, SigningKey, TrustedKey
from provledger.local.tsa import LocalTsa
from provledger.sealer.intake import accept
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block
from provledger.store.db import create_pool
from provledger.store.keys import load_keyset
from provledger.store.migrate import migrate_database
from report import Figure

DEFAULT_JSON = Path(__file__).parent / "results" / "anchor_evidence.json"
REQUIRED = ("rfc3161",)


class NoTopic:
    """The checkpoints topic left out: this benchmark times bundles, not publishing."""

    async def publish(self, seq: int, origin: str, note: str) -> None:
        return None

    async def last_published(self) -> None:
        return None


async def seal_real_events(database_url: str, key: SigningKey, count: int) -> str:
    """One more block of ``count`` real events (the loaded ones are random bytes); one's id.

    ``provledger verify`` decodes the event in the canonical bytes, so the bundle it times must
    hold a real one; the evidence endpoint never decodes them, so its load can stay synthetic.
    """
    conn = await asyncpg.connect(database_url)
    try:
        shard = await ensure_shard(conn, "provledger.events", 0)
        log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
        first = log.next_offset
        now = datetime.now(UTC)
        rows = [
            accept(Event(new_event_id(), now, EventType.COMPLETE, "https://bench.provledger/anchor-evidence",
                         Run(str(uuid.uuid4())), Job("bench", "train")), offset)
            for offset in range(first, first + count)
        ]  # fmt: skip
        await write_block(conn, log.seal(rows, first, first + count - 1, key, time.time_ns() // 1000), first)
    finally:
        await conn.close()
    return rows[0].event_id


async def anchor_once(database_url: str, tsa: LocalTsa) -> KeySet:
    """Anchor every shard's head with the rfc3161 kind; the sealer's and the anchorer's keys."""
    key = SigningKey.generate("bench.provledger/anchorer")
    kind = make_kind(tsa_urls=tsa.url, tsa_roots_file=tsa.roots_file)
    pool = await create_pool(database_url)
    try:
        options = AnchorerOptions(LOG_ORIGIN, 60.0, 86_400.0)
        anchorer = Anchorer(pool, key, [kind], NoTopic(), options, AnchorerMetrics((kind.name,)))
        await anchorer.take_over()
        await anchorer.tick()  # statement 1 stored, "published" to no topic, timestamped
        if anchorer.fork is not None:
            raise RuntimeError(f"the anchorer refused the benchmark's own ledger: {anchorer.fork}")
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT count(*) FROM anchor_receipts WHERE kind = $1", kind.name):
                raise RuntimeError("the local TSA gave no receipt")
            sealer_keys = await load_keyset(conn)
    finally:
        await pool.close()
    return KeySet((*sealer_keys.keys, TrustedKey(key.verifier)))


async def fetch_bundle(database_url: str, event_id: str, tmp: Path) -> dict[str, Any]:
    async with api_client(database_url, tmp, 1) as (client, _):
        response = await client.get(f"/v1/events/{event_id}/evidence")
        response.raise_for_status()
        bundle: dict[str, Any] = response.json()
    if [r.get("type") for r in bundle.get("receipts", [])] != list(REQUIRED):
        raise RuntimeError(f"the bundle carries no rfc3161 receipt: {bundle.get('receipts')}")
    return bundle


def _ms(values: list[float], q: float) -> float:
    if q == 0.5:
        return statistics.median(values) * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1] * 1000


def time_verify(bundle: dict[str, Any], keys: KeySet, roots: Path, runs: int) -> list[Figure]:
    """The verify command's checks, with the receipt and without, p50/p99 in this process."""
    verifiers = receipt_verifiers(roots, REQUIRED)
    bare = {**bundle, "receipts": [], "anchored": False}

    def timed(document: dict[str, Any], **options: Any) -> list[float]:
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            verdict = check_bundle(document, keys, LOG_ORIGIN, **options)
            seconds.append(time.perf_counter() - started)
            if not verdict.ok:
                raise RuntimeError(f"the bundle did not verify: {verdict.to_json()}")
        return seconds

    anchored = timed(bundle, verifiers=verifiers, required=REQUIRED)
    plain = timed(bare)
    baseline = "same bundle, receipts left out"
    return [
        Figure("verify p50, with rfc3161 receipt", _ms(anchored, 0.5), "ms", _ms(plain, 0.5), baseline),
        Figure("verify p99, with rfc3161 receipt", _ms(anchored, 0.99), "ms", _ms(plain, 0.99), baseline),
    ]


def time_command(bundle: dict[str, Any], keys: KeySet, roots: Path, folder: Path) -> list[Figure]:
    """``provledger verify`` as a user runs it, wall time with interpreter start, median of five."""
    bundle_file, keys_file = folder / "bundle.json", folder / "trusted-keys.txt"
    bundle_file.write_text(json.dumps(bundle))
    keys_file.write_text("".join(f"{k.verifier.verifier_key_string()}\n" for k in keys.keys))
    cli = [sys.executable, "-m", "provledger"]
    verify = [*cli, "verify", str(bundle_file), "--trusted-keys", str(keys_file), "--log-origin",
              LOG_ORIGIN, "--tsa-roots", str(roots), "--require", ",".join(REQUIRED)]  # fmt: skip

    def wall(argv: list[str]) -> float:
        seconds = []
        for _ in range(5):
            started = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds) * 1000

    return [Figure("provledger verify, wall (process start included)", wall(verify), "ms",
                   wall([*cli, "--help"]), "provledger --help")]  # fmt: skip


@dataclass(frozen=True)
class EvidenceOptions:
    """Sizes of the phase: events loaded and per block, timed requests and verifications."""

    events: int = 1_000_000
    block: int = 20_000
    requests: int = 5_000
    concurrency: int = 8
    verifies: int = 500


async def measure_all(options: EvidenceOptions, database_url: str, tsa: LocalTsa, tmp: Path) -> list[Figure]:
    """The phase on a fresh, empty database: load, time, anchor, time again, verify."""
    await migrate_database(database_url)
    sealer = SigningKey.generate(LOG_ORIGIN)
    ids = await load_events(database_url, options.events, options.block, sealer)
    real_event = await seal_real_events(database_url, sealer, 100)
    before = await measure(database_url, ids, options.requests, options.concurrency, tmp)
    keys = await anchor_once(database_url, tsa)
    after = await measure(database_url, ids, options.requests, options.concurrency, tmp)
    figures = [
        Figure(f"{a.name}, anchored", a.value, a.unit, b.value, "same, before anchoring")
        for a, b in zip(after, before, strict=True)
    ]
    bundle = await fetch_bundle(database_url, real_event, tmp)
    figures += time_verify(bundle, keys, tsa.roots_file, options.verifies)
    return figures + time_command(bundle, keys, tsa.roots_file, tmp)
