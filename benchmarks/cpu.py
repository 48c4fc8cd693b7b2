"""CPU time spent by each server process between two readings: where an end-to-end run's time goes.

On two shared cores, events/s alone cannot say whether the sealer, Postgres or the broker bounds
a run; CPU microseconds per event, per process, can (the sum over all of them, divided by the
cores, is the fastest the machine can go with this work). A server's figure counts the process,
its live descendants (Postgres backends, autovacuum) and the children it has reaped since
(backends that exited), so a backend's work is counted whether or not it outlived the reading.
"""

from __future__ import annotations

import contextlib
import os
import time

import psutil

ZOMBIE_RETRIES = 100
ZOMBIE_WAIT_S = 0.05


def server_seconds(pid: int) -> float:
    """User plus system seconds of ``pid``, its live descendants and its reaped children.

    A child that has exited but is not reaped yet (a backend of a pool just closed) is in
    neither sum, and its whole CPU time would go missing (a baseline once read 0.6 µs of
    Postgres per event), so the reading waits until its parent has reaped it.
    """
    for _ in range(ZOMBIE_RETRIES):
        with contextlib.suppress(_Unreaped):
            return _reading(psutil.Process(pid))
        time.sleep(ZOMBIE_WAIT_S)
    raise RuntimeError(f"a child of process {pid} stayed a zombie; its CPU time cannot be read")


class _Unreaped(Exception):
    """A descendant exited and its parent has not reaped it yet: read again in a moment."""


def _reading(process: psutil.Process) -> float:
    times = process.cpu_times()
    total = float(times.user + times.system + times.children_user + times.children_system)
    for child in process.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                raise _Unreaped
            child_times = child.cpu_times()
        except psutil.ZombieProcess as exc:  # a subclass of NoSuchProcess: caught first
            raise _Unreaped from exc
        except psutil.NoSuchProcess:
            continue  # exited and reaped: in children_* of a later reading
        total += child_times.user + child_times.system
    return total


def own_seconds() -> float:
    """User plus system seconds of this process alone (its children are the servers it started)."""
    times = psutil.Process(os.getpid()).cpu_times()
    return float(times.user + times.system)


class CpuMeter:
    """CPU seconds of named processes from :meth:`start` to :meth:`stop`; ``own`` is this process."""

    def __init__(self, servers: dict[str, int], own: str | None = None) -> None:
        self._servers = servers
        self._own = own
        self._started: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._started = self._read()

    def stop(self) -> None:
        self.used = {name: seconds - self._started[name] for name, seconds in self._read().items()}

    def _read(self) -> dict[str, float]:
        readings = {name: server_seconds(pid) for name, pid in self._servers.items()}
        if self._own is not None:
            readings[self._own] = own_seconds()
        return readings

    def micros_per(self, name: str, events: int) -> float:
        return self.used[name] / events * 1e6
