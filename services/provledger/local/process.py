"""Child server processes that cannot outlive us: own process group, parent-death signal, log file."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from provledger.errors import ServiceUnavailable

_PR_SET_PDEATHSIG = 1
LOG_TAIL_LINES = 40


#: Ports :func:`free_port` returned in this process.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The port is released before the server binds it, so another process could take it in
    between; callers that see the server exit early retry with a new port.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        # Never the same port twice in one process: `up` picks every service's port before the
        # first binds, and the kernel may hand a released port out again (the anchorer once got
        # a witness's port and could not start).
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _die_with_parent(death_signal: signal.Signals) -> Callable[[], None]:
    """A preexec hook asking the kernel to signal the child when its parent dies.

    It runs after the uid switch that ``Popen(user=...)`` performs, because a credential change
    clears the parent-death setting.
    """
    parent = os.getpid()

    def hook() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(death_signal))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), death_signal)

    return hook


class ManagedProcess:
    """A server process we started, with its log, that :meth:`stop` always reaps."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._stop_signal = stop_signal
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,  # Ctrl-C at the terminal reaches us, and we stop servers in order
                user=user,
                env=env,
                preexec_fn=_die_with_parent(stop_signal),
            )

    @property
    def pid(self) -> int:
        return self._popen.pid

    def exit_code(self) -> int | None:
        """The exit status if the process has ended, else None."""
        return self._popen.poll()

    def send_signal(self, sig: signal.Signals) -> None:
        """Deliver ``sig`` (fault tests pause a server with SIGSTOP and resume it with SIGCONT)."""
        self._popen.send_signal(sig)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the server to stop, then kill it if it has not within ``timeout_s``."""
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(self._stop_signal)
            try:
                self._popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait()
        # Reap helpers the server forked into its group (Postgres backends) if any survived.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)

    def wait_ready(self, probe: Callable[[], None], timeout_s: float, what: str) -> None:
        """Call ``probe`` until it stops raising; fail with the log tail if the deadline passes."""
        deadline = time.monotonic() + timeout_s
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                raise ServiceUnavailable(
                    f"{self.name} exited with status {self._popen.returncode} before {what}.\n"
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                probe()
                return
            except Exception as exc:  # any failure of the probe means "not yet"
                last_error = exc
                time.sleep(0.1)
        self.stop()
        raise ServiceUnavailable(
            f"{self.name} did not answer {what} within {timeout_s:.0f} s (last error: {last_error!r}).\n"
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )
