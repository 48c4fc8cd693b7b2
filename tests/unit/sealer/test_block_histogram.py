"""A BlockHistogram exposes what prometheus_client's Histogram does for the same observations."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from provledger.sealer.metrics import LATENCY_BUCKETS, BlockHistogram

NAME = "provledger_test_latency_seconds"


def _exposition(registry: CollectorRegistry) -> dict[str, float]:
    """The text exposition's samples by name and labels, without the ``_created`` only Histogram has."""
    samples = {}
    for line in generate_latest(registry).decode().splitlines():
        if not line.startswith("#") and "_created" not in line:
            sample, value = line.rsplit(" ", 1)
            samples[sample] = float(value)
    return samples


def test_block_observations_expose_the_same_buckets_count_and_sum_as_one_by_one() -> None:
    rng = random.Random(7)
    # Values on the bucket bounds (le is inclusive), between them, past the last, and zero.
    values = [*LATENCY_BUCKETS, 0.0, 61.0, 1e9] + [rng.uniform(0, 70) for _ in range(500)]
    reference, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram(NAME, "doc", buckets=LATENCY_BUCKETS, registry=reference)
    for value in values:
        histogram.observe(value)
    block = BlockHistogram(NAME, "doc", LATENCY_BUCKETS, ours)
    block.observe_many(values[:200])
    block.observe_many([])
    block.observe_many(values[200:])
    expected, exposed = _exposition(reference), _exposition(ours)
    assert expected[f'{NAME}_bucket{{le="0.01"}}'] == 2  # 0.0 and the bound itself: le is inclusive
    assert exposed[f"{NAME}_sum"] == pytest.approx(expected.pop(f"{NAME}_sum"), rel=1e-12)
    del exposed[f"{NAME}_sum"]  # summed in another order: equal up to rounding
    assert exposed == expected
