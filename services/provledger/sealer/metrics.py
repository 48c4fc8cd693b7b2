"""The sealer's Prometheus metrics, in a registry of their own (one per sealer instance)."""

from __future__ import annotations

import bisect
import collections
import functools
import itertools
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

#: Seal latency buckets in seconds: a healthy sealer commits well within one second.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class BlockHistogram(Collector):
    """A Prometheus histogram observed a block at a time: one C-level bisect per value.

    ``Histogram.observe`` takes a lock and walks the buckets in Python for every value: per
    sealed event, 3% of the sealer's CPU (py-spy, bench_seal.py). Exposed exactly as a
    ``Histogram`` of the same name and buckets is, minus ``_created``. Not thread-safe: the
    sealer's event loop is its only writer and, serving ``/metrics``, its only reader.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry):
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(buckets)
        self._bucket_of = functools.partial(bisect.bisect_left, self._bounds)  # le: value <= bound
        self._counts = [0] * (len(self._bounds) + 1)  # the last is +Inf
        self._sum = 0.0
        registry.register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        for index, count in collections.Counter(map(self._bucket_of, values)).items():
            self._counts[index] += count
        self._sum += sum(values)

    def collect(self) -> Iterator[Metric]:
        cumulative = list(itertools.accumulate(self._counts))
        bounds = [*map(floatToGoString, self._bounds), "+Inf"]
        yield HistogramMetricFamily(
            self._name,
            self._documentation,
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=self._sum,
        )


class SealerMetrics:
    """Counters and histograms named ``provledger_sealer_*``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_sealed = Counter(
            "provledger_sealer_events_sealed", "Events sealed into blocks.", ["shard"], registry=r
        )
        self.blocks_sealed = Counter(
            "provledger_sealer_blocks_sealed", "Blocks committed.", ["shard"], registry=r
        )
        self.batch_events = Histogram(
            "provledger_sealer_block_events",
            "Events per block.",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 50000),
            registry=r,
        )
        self.latency_event_time = BlockHistogram(
            "provledger_sealer_latency_from_event_time_seconds",
            "Commit time minus the event's own event_time.",
            LATENCY_BUCKETS,
            r,
        )
        self.latency_kafka = BlockHistogram(
            "provledger_sealer_latency_from_kafka_seconds",
            "Commit time minus the Kafka record timestamp.",
            LATENCY_BUCKETS,
            r,
        )
        self.dead_letters = Counter(
            "provledger_sealer_dead_letters", "Rejected records and events.", ["reason"], registry=r
        )
        self.dead_letters_produced = Counter(
            "provledger_sealer_dead_letters_produced",
            "Dead letters the brokers acknowledged, original bytes included (resent ones too).",
            ["reason"],
            registry=r,
        )
        self.dead_letter_stubs = Counter(
            "provledger_sealer_dead_letter_stubs",
            "Dead letters that could not be produced whole, sent as a stub with the original's SHA-256.",
            ["reason"],
            registry=r,
        )
        self.unsealable = Counter(
            "provledger_sealer_unsealable_records",
            "Records dead-lettered because Postgres refused the block holding them (data, not an outage).",
            ["shard"],
            registry=r,
        )
        self.narrowing_splits = Counter(
            "provledger_sealer_narrowing_splits",
            "Failed blocks split in two to find the records Postgres refuses.",
            ["shard"],
            registry=r,
        )
        self.write_failures = Counter(
            "provledger_sealer_unexpected_failures",
            "Sealing attempts that failed for neither data nor an outage (a bug): the agent restarts.",
            registry=r,
        )
        self.duplicates = Counter(
            "provledger_sealer_duplicates_dropped", "Byte-identical repeats dropped.", registry=r
        )
        self.stale = Counter(
            "provledger_sealer_stale_shard",
            "Writes refused because another sealer won.",
            ["shard"],
            registry=r,
        )
        self.lag = Gauge(
            "provledger_sealer_consumer_lag",
            "Records in the partition not yet sealed.",
            ["shard"],
            registry=r,
        )
        self.ready = Gauge("provledger_sealer_ready", "1 once every assigned shard is loaded.", registry=r)
        self.offset_gaps = Counter(
            "provledger_sealer_offset_gaps", "Source offsets that never arrived.", ["shard"], registry=r
        )
