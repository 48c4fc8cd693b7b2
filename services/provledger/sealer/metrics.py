"""The sealer's Prometheus metrics, in a registry of their own (one per sealer instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Seal latency buckets in seconds: a healthy sealer commits well within one second.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


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
        self.latency_event_time = Histogram(
            "provledger_sealer_latency_from_event_time_seconds",
            "Commit time minus the event's own event_time.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.latency_kafka = Histogram(
            "provledger_sealer_latency_from_kafka_seconds",
            "Commit time minus the Kafka record timestamp.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dead_letters = Counter(
            "provledger_sealer_dead_letters", "Rejected records and events.", ["reason"], registry=r
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
