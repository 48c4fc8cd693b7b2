"""The sealer's process tuning takes effect: in a child process, so this one keeps its defaults."""

from __future__ import annotations

import json
import subprocess
import sys

from provledger.sealer.tuning import GC_THRESHOLDS

_PROBE = """
import gc, json
from provledger.sealer.tuning import collect_garbage_less_often
before = gc.get_threshold()
collect_garbage_less_often()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_collect_garbage_less_often_raises_thresholds_and_freezes_what_is_alive() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    probe = json.loads(result.stdout)
    assert probe["before"] == [700, 10, 10]  # CPython's defaults: the probe really changed something
    assert tuple(probe["after"]) == GC_THRESHOLDS
    # Less often means higher: the youngest generation waits for far more allocations than before.
    assert probe["after"][0] >= 100 * probe["before"][0]
    assert all(after >= before for after, before in zip(probe["after"], probe["before"], strict=True))
    assert probe["frozen"] > 1000  # the imported modules' objects, out of the collector's view
