"""Events per second through the emitter SDK into the real broker, beside a plain aiokafka producer.

In one run, against one broker, with the same events:

* ``plain aiokafka producer``: what a service gets without the SDK, sending each event's bytes
  (the same Avro body, in the same single-object ``EventBatch`` framing the sealer reads) as
  its own record with an ``AIOKafkaProducer`` (acks=all), encoded before the clock starts. This
  is the baseline the issue's target reads the SDK against (70%): ARCHITECTURE.md calibrated it
  as "aiokafka produce ~76k msg/s" on this machine, and 50,000 events/s is ~70% of that.
* ``Emitter`` (asyncio) and ``SyncEmitter`` (background thread): ``emit`` for every event, then
  ``flush``. They encode each event, batch it by key, and wait for every acknowledgement.
* ``raw aiokafka, SDK's records``: a plain producer sending the very record values the SDK
  would send, batched and encoded before the clock starts: Kafka and the client with no
  per-event work at all, a ceiling no SDK that encodes in Python reaches (the encoding alone
  takes longer than this whole send).
* ``encoding alone``: the SDK's Avro encoding of the same events with no Kafka at all.

Events are ~300 bytes encoded (an artifact in, one out, padding in an attribute), spread over
``--runs`` run ids. Each measurement uses a fresh topic and is repeated ``--repeat`` times,
interleaved with the others; the best is reported, the least disturbed by other load.

Usage: ``python benchmarks/bench_emit.py [--events N] [--runs N] [--repeat N] [--json PATH]``.
The broker is ``PROVLEDGER_KAFKA_BOOTSTRAP`` when set, else one started by ``provledger.local``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaProducer

from provledger.config import KafkaSettings, load
from provledger.emit import Emitter, EmitterOptions, SyncEmitter
from provledger.emit.batcher import Batcher
from provledger.emit.encoding import BodyEncoder
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.events.binary import event_body
from provledger.events.codec import encode_bodies
from provledger.local import local_servers
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "emit.json"
EVENT_BYTES = 300


def make_events(count: int, runs: int) -> list[Event]:
    """``count`` events of about :data:`EVENT_BYTES` encoded bytes, round-robin over ``runs`` runs."""
    run_ids = [Run(str(uuid.uuid4())) for _ in range(runs)]
    job = Job("bench", "train")
    checkpoint = ArtifactRef("bench", "checkpoint", "sha256:" + "cd" * 32, "checkpoint")

    def event(run: Run, padding: str) -> Event:
        return Event.new(
            EventType.RUNNING,
            job=job,
            run=run,
            producer="https://bench.example/trainer",
            outputs=[checkpoint],
            attributes={"pad": padding},
        )

    padding = "x" * (EVENT_BYTES - len(event_body(event(run_ids[0], ""))))
    return [event(run_ids[i % runs], padding) for i in range(count)]


def sdk_records(events: list[Event], options: EmitterOptions) -> list[tuple[bytes, bytes]]:
    """The (key, value) records the SDK sends for ``events``, encoded ahead of time."""
    batcher = Batcher(options)
    records = []
    for event in events:
        batch = batcher.add(event.record_key().encode(), event_body(event), 0.0)
        if batch is not None:
            records.append((batch.key, batch.value()))
    records += [(batch.key, batch.value()) for batch in batcher.drain()]
    return records


async def raw_send(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=0,
        max_batch_size=1 << 20,
        max_request_size=2 << 20,
    )
    await producer.start()
    try:
        acknowledgements = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*acknowledgements)
    finally:
        await producer.stop()


async def async_emit(settings: KafkaSettings, options: EmitterOptions, events: list[Event]) -> None:
    async with Emitter(settings, options) as emitter:
        for event in events:
            await emitter.emit(event)
        await emitter.flush()


def sync_emit(settings: KafkaSettings, options: EmitterOptions, events: list[Event]) -> None:
    with SyncEmitter(settings, options) as emitter:
        for event in events:
            emitter.emit(event)
        emitter.flush()


def encode_all(events: list[Event]) -> None:
    encode = BodyEncoder().encode
    for event in events:
        encode(event)


def timed(work: Callable[[str], Awaitable[None] | None]) -> float:
    """Seconds to run ``work(fresh topic)``; a coroutine it returns is run to the end."""
    topic = f"bench.{uuid.uuid4().hex[:12]}"
    start = time.perf_counter()
    result = work(topic)
    if result is not None:
        asyncio.run(_awaited(result))
    return time.perf_counter() - start


async def _awaited(result: Awaitable[None]) -> None:
    await result


def measure(bootstrap: str, args: argparse.Namespace) -> list[Figure]:
    options = EmitterOptions()
    events = make_events(args.events, args.runs)
    size = sum(len(event_body(e)) for e in events) / len(events)
    print(f"{len(events):,} events, {size:.0f} bytes each encoded, over {args.runs} runs")
    records = sdk_records(events, options)
    singles = [(e.record_key().encode(), encode_bodies([event_body(e)])) for e in events[: args.events // 4]]

    def settings(topic: str) -> KafkaSettings:
        return load(KafkaSettings, kafka_bootstrap=bootstrap, topic_events=topic)

    # Topics are created on first produce; warm the broker and the client code paths once.
    asyncio.run(raw_send(bootstrap, "bench.warmup", records[:10]))
    work: dict[str, tuple[int, Callable[[str], Awaitable[None] | None]]] = {
        "raw": (len(events), lambda topic: raw_send(bootstrap, topic, records)),
        "emitter": (len(events), lambda topic: async_emit(settings(topic), options, events)),
        "sync": (len(events), lambda topic: sync_emit(settings(topic), options, events)),
        "single": (len(singles), lambda topic: raw_send(bootstrap, topic, singles)),
        "encode": (len(events), lambda _: encode_all(events)),
    }
    best = dict.fromkeys(work, float("inf"))
    for _ in range(args.repeat):  # interleaved, so a burst of outside load hits all alike
        for name, (_, run) in work.items():
            best[name] = min(best[name], timed(run))
    rate = {name: count / best[name] for name, (count, _) in work.items()}
    sdk = [("Emitter (asyncio)", rate["emitter"]), ("SyncEmitter (thread)", rate["sync"])]
    baselines = [
        ("plain aiokafka producer, one record per event", "single", "plain producer"),
        ("raw aiokafka sending the SDK's batched records (ceiling)", "raw", "raw batched"),
        ("encoding alone, no Kafka", "encode", "encoding"),
    ]
    figures = []
    for title, key, short in baselines:
        figures.append(Figure(title, rate[key], "events/s"))
        figures += [Figure(f"  {name}", value, "events/s", rate[key], short) for name, value in sdk]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    external = os.environ.get("PROVLEDGER_KAFKA_BOOTSTRAP")
    with tempfile.TemporaryDirectory() as data_dir:
        if external:
            figures = measure(external, args)
        else:
            with local_servers(data_dir=Path(data_dir), mode="embedded", durable=False) as servers:
                figures = measure(servers.kafka_bootstrap, args)
    print_figures("emitter SDK into the real broker (2 cores shared with other work)", figures)
    write_summary(args.json, "emit", figures, events=args.events, runs=args.runs, event_bytes=EVENT_BYTES)


if __name__ == "__main__":
    main()
