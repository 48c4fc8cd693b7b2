"""Witness tests' logs: an in-memory tlog with real signed checkpoints and proofs, and a witness process.

Proofs come from the RFC 9162 reference in :mod:`tests.helpers.rfc9162_reference`, not from
the code under test, so a witness that accepts them agrees with an independent oracle.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from provledger.ledger.checkpoint import Checkpoint, sign_checkpoint
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import leaf_hash
from provledger.local.process import ManagedProcess, free_port
from provledger.witness.protocol import ADD_CHECKPOINT_PATH, format_add_checkpoint
from tests.helpers import rfc9162_reference as ref

#: The witness's key in every test: deterministic, so failures reproduce.
WITNESS_NAME = "witness.test/w1"
WITNESS_SEED = bytes([7]) * 32


@dataclass
class SampleLog:
    """A log of ``origin`` signed by ``key``: append leaves, then sign checkpoints and prove consistency."""

    origin: str
    key: SigningKey
    leaves: list[bytes] = field(default_factory=list)

    def grow(self, count: int, tag: bytes = b"") -> SampleLog:
        """Append ``count`` leaves (``tag`` makes a fork's leaves differ); returns self."""
        start = len(self.leaves)
        self.leaves.extend(leaf_hash(tag + b"leaf %d" % i) for i in range(start, start + count))
        return self

    def fork(self, size: int) -> SampleLog:
        """Another log of the same origin and key sharing the first ``size`` leaves (grow it with a tag)."""
        return SampleLog(self.origin, self.key, self.leaves[:size])

    def checkpoint(self, size: int | None = None, key: SigningKey | None = None) -> str:
        """The signed checkpoint note at ``size`` (default: all leaves)."""
        size = len(self.leaves) if size is None else size
        body = Checkpoint(self.origin, size, ref.mth(self.leaves[:size]))
        return sign_checkpoint(body, [key or self.key])

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from ``old`` to ``new`` leaves (empty from 0)."""
        new = len(self.leaves) if new is None else new
        return [] if old in (0, new) else ref.proof(old, self.leaves[:new])

    def request(self, old: int, new: int | None = None) -> bytes:
        """An ``add-checkpoint`` body moving a witness from ``old`` to ``new``."""
        return format_add_checkpoint(old, self.proof(old, new), self.checkpoint(new))


def witness_key() -> SigningKey:
    """The tests' witness key."""
    return SigningKey.from_seed(WITNESS_NAME, WITNESS_SEED)


@dataclass
class WitnessProcess:
    """A ``provledger witness`` child and where it answers."""

    url: str
    process: ManagedProcess

    def add(self, body: bytes) -> httpx.Response:
        """POST an add-checkpoint body."""
        return httpx.post(self.url + ADD_CHECKPOINT_PATH, content=body, timeout=10)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a crash or an OOM kill."""
        self.process.send_signal(signal.SIGKILL)
        self.process.stop()


def witness_env(folder: Path, logs: list[SampleLog], port: int, state: Path | None = None) -> dict[str, str]:
    """The environment of a witness of ``logs`` under ``folder`` (key and logs file written there)."""
    key_file = folder / "witness.pem"
    if not key_file.exists():
        key_file.write_bytes(witness_key().to_pem())
    logs_file = folder / "logs.txt"
    logs_file.write_text(
        "# the test's logs\n"
        + "".join(f"log {log.origin} {log.key.verifier.verifier_key_string()}\n" for log in logs)
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    return environment | {
        "PROVLEDGER_WITNESS_KEY_FILE": str(key_file),
        "PROVLEDGER_WITNESS_NAME": WITNESS_NAME,
        "PROVLEDGER_WITNESS_LOGS_FILE": str(logs_file),
        "PROVLEDGER_WITNESS_STATE_FILE": str(state or folder / "witness.sqlite3"),
        "PROVLEDGER_WITNESS_PORT": str(port),
        "PROVLEDGER_LOG_LEVEL": "WARNING",
    }


@contextmanager
def running_witness(env: dict[str, str], log_path: Path) -> Iterator[WitnessProcess]:
    """A ready ``python -m provledger witness`` with ``env``, stopped however the block ends."""
    url = f"http://127.0.0.1:{env['PROVLEDGER_WITNESS_PORT']}"
    process = ManagedProcess("witness", [sys.executable, "-m", "provledger", "witness"], log_path, env=env)

    def probe() -> None:
        httpx.get(url + "/readyz", timeout=2).raise_for_status()

    try:
        process.wait_ready(probe, 30, "/readyz")
        yield WitnessProcess(url, process)
    finally:
        process.stop()


def free_witness_port() -> int:
    """A port for a witness (re-exported so tests need not know provledger.local)."""
    return free_port()
