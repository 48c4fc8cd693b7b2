"""Shared output of the benchmarks: figures printed beside their baseline, and a JSON summary.

Every benchmark measures its baseline in the same run (the same machine, the same load), so a
figure is always read as a ratio to something physical, never as an absolute promise.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Figure:
    """One measured quantity, optionally beside the baseline it should be read against."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def print_figures(title: str, figures: list[Figure]) -> None:
    """A fixed-width table a person can read in a terminal or a CI log."""
    print(f"\n{title}")
    print(f"{'measure':<44} {'value':>14} {'unit':<10} {'baseline':>14}  {'ratio':>7}  baseline is")
    for f in figures:
        baseline = f"{f.baseline:>14,.1f}" if f.baseline is not None else " " * 14
        ratio = f"{f.ratio:>6.1%}" if f.ratio is not None else " " * 7
        print(f"{f.name:<44} {f.value:>14,.1f} {f.unit:<10} {baseline}  {ratio:>7}  {f.baseline_name or ''}")


def write_summary(path: Path, benchmark: str, figures: list[Figure], **parameters: object) -> None:
    """Write the figures and the conditions they were measured under as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "benchmark": benchmark,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_bytes": psutil.virtual_memory().total,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "parameters": parameters,
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary written to {path}")
