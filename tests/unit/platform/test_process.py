"""Server processes: a failed start shows the server's own log; stop leaves nothing running."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from provledger.errors import ServiceUnavailable
from provledger.local.process import ManagedProcess


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _refused() -> None:
    raise ConnectionRefusedError("port closed")


def test_early_exit_reports_status_and_log_tail(tmp_path: Path) -> None:
    process = ManagedProcess(
        "fake-db", ["sh", "-c", "echo 'FATAL: data directory is corrupt'; exit 3"], tmp_path / "fake.log"
    )
    with pytest.raises(
        ServiceUnavailable, match=r"(?s)fake-db exited with status 3.*data directory is corrupt"
    ):
        process.wait_ready(_refused, 10, "select 1")


def test_readiness_timeout_stops_the_process_and_shows_last_error(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", ["sh", "-c", "echo starting; exec sleep 60"], tmp_path / "s.log")

    with pytest.raises(ServiceUnavailable, match=r"(?s)did not answer .* within 1 s.*port closed.*starting"):
        process.wait_ready(_refused, 1, "a ping")
    assert process.exit_code() is not None


def test_stop_kills_a_process_that_ignores_the_polite_signal(tmp_path: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
        "time.sleep(60)"
    )
    process = ManagedProcess("stubborn", [sys.executable, "-c", script], tmp_path / "st.log")
    deadline = time.monotonic() + 10
    while "up" not in process.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.stop(timeout_s=0.5)
    assert process.exit_code() is not None
    assert not _alive(process.pid)
