"""Decode and validate ``EventBatch`` records: the sealer's per-event CPU, beside fastavro alone.

For records of ``--batch`` events shaped like ``bench_seal.py``'s (about 350 bytes each: a
dataset in, a checkpoint out, one attribute), each figure is events/s through:

* **fastavro raw decode** (the baseline): ``schemaless_reader`` of the batch into dicts, with
  no validation and no canonical bytes; what any Avro consumer pays at least.
* **general path**: :func:`~provledger.events.codec.decode_record` (fastavro, then
  :meth:`Event.from_avro` validating every field), then the sealer's ``accept`` (canonical
  re-encode, leaf hash): what every record cost before the fast path.
* **fast path**: :func:`~provledger.events.reader.read_batch` (validated fields, canonical
  slices straight from the bytes and their leaf hashes, as the rows the sealer seals): what a
  canonically encoded v1 record costs the sealer now, pure Python and, when built
  (:mod:`provledger.events.compiled`), compiled with mypyc as the sealer runs it.

Usage: ``python benchmarks/bench_decode.py [--batch N] [--records N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fastavro import schemaless_reader

from provledger.events import ArtifactRef, Event, EventType, Job, Run, compiled
from provledger.events.codec import HEADER_SIZE, decode_record, encode_record
from provledger.events.reader import read_batch
from provledger.events.rows import EventRow
from provledger.events.schemas import registry
from provledger.sealer.intake import accept
from report import Figure, print_figures, write_summary

DEFAULT_JSON = Path(__file__).parent / "results" / "decode.json"
RUNS = 64


def _records(count: int, batch: int) -> list[bytes]:
    """``count`` record values of ``batch`` events each, as the SDK writes them."""
    runs = [Run(str(uuid.uuid4())) for _ in range(RUNS)]
    job = Job("bench", "train")
    dataset = ArtifactRef("s3://lake", "imagenet", "sha256:" + "ab" * 32, "dataset")
    values = []
    for r in range(count):
        events = [
            Event.new(
                EventType.RUNNING,
                job=job,
                run=runs[i % RUNS],
                producer="https://provledger.bench/emitter",
                inputs=[dataset],
                outputs=[
                    ArtifactRef("models", f"ckpt-{i}", "sha256:" + f"{r * batch + i:064x}", "checkpoint")
                ],
                attributes={"step": str(i)},
            )
            for i in range(batch)
        ]
        values.append(encode_record(events))
    return values


def _rate(values: list[bytes], events: int, decode: Callable[[bytes], object], rounds: int = 3) -> float:
    """Events/s of the best of ``rounds`` passes over ``values`` (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for value in values:
            decode(value)
        best = min(best, time.perf_counter() - start)
    return events / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batch", type=int, default=1000, help="events per record (the SDK sends up to 1000)"
    )
    parser.add_argument("--records", type=int, default=10, help="records per pass")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON summary")
    args = parser.parse_args(argv)
    values = _records(args.records, args.batch)
    events = args.records * args.batch
    schema = registry().current.batch
    for value in values:  # the fast path must take every one of them, or the figure means nothing
        assert read_batch(value, 0) is not None

    def raw(value: bytes) -> object:
        return schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), schema, None)

    def general(value: bytes) -> object:
        return [accept(event, 0) for event in decode_record(value)]

    def fast(read: Callable[[bytes, int], list[EventRow] | None]) -> Callable[[bytes], object]:
        return lambda value: read(value, 0)

    baseline = _rate(values, events, raw)
    figures = [
        Figure("general path: decode_record + accept", _rate(values, events, general), "events/s",
               baseline, "fastavro raw decode"),
        Figure("fast path: read_batch", _rate(values, events, fast(read_batch)), "events/s",
               baseline, "fastavro raw decode"),
    ]  # fmt: skip
    if compiled.COMPILED:
        figures.append(
            Figure("fast path compiled: read_batch", _rate(values, events, fast(compiled.read_batch)),
                   "events/s", baseline, "fastavro raw decode"),
        )  # fmt: skip
    else:
        print("the compiled reader is not built (python -m provledger.events.compiled): pure Python only")
    figures.append(Figure("mean event size", sum(map(len, values)) / events, "bytes"))
    print_figures(
        "EventBatch decode + validation, one core (2 shared cores, measured under contention)", figures
    )
    write_summary(args.json, "decode", figures, batch=args.batch, records=args.records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
