"""`provledger up` as a user runs it: it comes up, and Ctrl-C or a kill leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT_S = 60


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pids: list[int], timeout_s: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """A running `provledger up` and the PIDs of the servers it reports."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROVLEDGER_DATABASE_URL", "PROVLEDGER_KAFKA_BOOTSTRAP")
    }
    env |= {"PROVLEDGER_LOCAL_SERVERS": "embedded", "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "provledger", "up", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + START_TIMEOUT_S
    for line in process.stdout:
        seen.append(line)
        if line.strip() == "ready" or time.monotonic() > deadline:
            break
    output = "".join(seen)
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", output)]
    try:
        assert "ready" in output, output
        assert len(pids) == 2, output
        assert all(_alive(pid) for pid in pids)
        yield process, pids
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        process.stdout.close()


@pytest.mark.slow
def test_ctrl_c_stops_every_server(stack: tuple[subprocess.Popen[str], list[int]]) -> None:
    process, pids = stack
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert _wait_gone(pids) == []


@pytest.mark.slow
def test_servers_die_with_a_killed_parent(stack: tuple[subprocess.Popen[str], list[int]]) -> None:
    process, pids = stack
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert _wait_gone(pids) == []
