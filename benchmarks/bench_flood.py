"""A flood of refused records as large as the sealer accepts: does its memory stay bounded?

Every record the sealer refuses waits in memory until its dead letter is produced, and a record
may be as large as ``PROVLEDGER_MAX_RECORD_BYTES`` (1 MiB by default). A client that can write to
the topic can send nothing else. Measured in one run, against one broker and one Postgres:

* **baseline**: the sealer's peak RSS while it seals a backlog of good SDK events (``--good``),
  the memory it needs anyway;
* **flood**: the same sealer's peak RSS while a backlog of ``--records`` malformed records, each
  just under the record limit, is dead-lettered, with a few good events after it; then how long the
  flood took to drain, and whether every good event was sealed and every flood record
  dead-lettered.

The target is the sealer's memory limit in ``deploy/kubernetes/sealer.yaml`` (512 MiB) with room
to spare: under 300 MB, as for every other input (issue 15).

Usage: ``python benchmarks/bench_flood.py [--records N] [--good N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from bench_seal import bench_servers, create_database, create_topic, emit, sealer, wait_sealed
from provledger.config import SealerSettings, load
from provledger.events.codec import batch_header
from provledger.keyfiles import generate_key_file
from provledger.local import LocalServers
from provledger.local.probes import run_blocking
from provledger.sealer.deadletter import max_request_bytes
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "flood.json"
DRAIN_TIMEOUT_S = 600.0
LETTERS = "provledger_sealer_dead_letters_produced_total"


def flood_record(max_record_bytes: int) -> bytes:
    """A record value just under the limit that the sealer must read to refuse: a header, then junk.

    After the single-object header the body starts with an event count of 1 and no event: the
    reader finds it malformed only once it has the whole value.
    """
    header = batch_header() + b"\x02"
    return header + bytes(max_record_bytes - len(header) - 64)


async def _send_flood(bootstrap: str, topic: str, records: int, max_record_bytes: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_request_size=max_request_bytes(max_record_bytes),
        linger_ms=5,
    )
    await producer.start()
    try:
        value = flood_record(max_record_bytes)
        sent = [await producer.send(topic, value, key=str(i).encode()) for i in range(records)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _metric(port: int, name: str) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def _phase(
    servers: LocalServers, folder: Path, name: str, good: int, flood: int, max_record_bytes: int
) -> tuple[float, float, float]:
    """Peak RSS (bytes), seconds to drain, and dead letters produced, for one fresh sealer."""
    database = await create_database(servers.database_url, f"flood_{name}")
    topic = f"bench.{uuid.uuid4().hex[:8]}.{name}"
    await create_topic(servers.kafka_bootstrap, topic)
    key = folder / f"{name}.pem"
    generate_key_file(key, load(SealerSettings).signing_key_name)
    if flood:
        await _send_flood(servers.kafka_bootstrap, topic, flood, max_record_bytes)
    await emit(servers.kafka_bootstrap, topic, good, None)
    print(f"{name}: {flood:,} flood records and {good:,} good events in the topic; sealing", flush=True)
    async with sealer(folder, database, servers.kafka_bootstrap, topic, key) as process:
        started = time.monotonic()
        await wait_sealed(database, good, DRAIN_TIMEOUT_S)
        letters = await _metric(process.port, LETTERS)
        while letters < flood and time.monotonic() - started < DRAIN_TIMEOUT_S:
            await asyncio.sleep(0.25)
            letters = await _metric(process.port, LETTERS)
        drained = time.monotonic() - started
        await asyncio.sleep(1)  # one more RSS sample after the last block
        return process.peak_rss, drained, letters


async def run(args: argparse.Namespace, servers: LocalServers, folder: Path) -> list[Figure]:
    limit = load(SealerSettings).max_record_bytes
    base_rss, base_s, _ = await _phase(servers, folder, "good", args.good, 0, limit)
    flood_rss, flood_s, letters = await _phase(servers, folder, "flood", args.good, args.records, limit)
    if letters < args.records:
        raise SystemExit(f"only {letters:.0f} of {args.records} flood records were dead-lettered")
    return [
        Figure(
            "sealer peak RSS, flood of max-size records",
            flood_rss / 2**20,
            "MiB",
            base_rss / 2**20,
            "good backlog",
        ),
        Figure("seconds to drain", flood_s, "s", base_s, "good backlog"),
        Figure("flood records dead-lettered", letters, "records"),
        Figure("flood bytes dead-lettered per second", args.records * limit / 2**20 / flood_s, "MiB/s"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_500, help="malformed max-size records in the flood")
    parser.add_argument("--good", type=int, default=20_000, help="good SDK events sealed in each phase")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON summary")
    args = parser.parse_args(argv)
    with bench_servers("bench-flood-") as (servers, folder):
        figures = run_blocking(lambda: run(args, servers, folder))
    print_figures("sealer memory under a flood of refused max-size records", figures)
    write_summary(args.json, "flood", figures, records=args.records, good=args.good)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
