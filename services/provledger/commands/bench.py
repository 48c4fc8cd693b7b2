"""``provledger bench``: run the standard end-to-end benchmark script of a source checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from provledger.errors import ConfigurationError

#: The standard benchmark, relative to the checkout's root (it is not shipped in the wheel).
BENCH_SCRIPT = Path("benchmarks") / "bench_seal.py"


def bench_command(events: int, rate: int) -> int:
    """Run ``benchmarks/bench_seal.py`` with these figures; its exit code is ours."""
    script = Path(__file__).resolve().parents[3] / BENCH_SCRIPT
    if not script.exists():
        raise ConfigurationError(f"{script} is missing: run `provledger bench` from a source checkout")
    argv = [sys.executable, str(script), "--events", str(events), "--rate", str(rate)]
    return subprocess.run(argv, check=False).returncode
