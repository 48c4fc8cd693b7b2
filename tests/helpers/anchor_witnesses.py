"""Witnesses for the anchorer's tests: real ``provledger witness`` processes of a sealed ledger's shards.

Each witness has its own key (so two of them are two parties), witnesses the shard logs of
:mod:`tests.helpers.sealed_ledger` (origin ``audit.test/ledger/shard/<n>``, signed by the test's
sealer key), and keeps its state in a file the test chooses, so a test can restart it with its
state, or with another state, on the same port.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from provledger.anchor.kinds import AnchorKind
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.anchor.tlog_witness import WitnessClient, parse_witnesses
from provledger.anchor.topic import CheckpointTopic
from provledger.config import KafkaSettings
from provledger.ledger.checkpoint import shard_origin
from provledger.ledger.cosignature import CosignatureVerifier, cosigner
from provledger.ledger.keys import SigningKey
from provledger.store.db import create_pool
from tests.helpers.anchoring import ANCHORER, ORIGIN
from tests.helpers.sealed_ledger import LOG_ORIGIN, connected, register, seal_blocks
from tests.helpers.witness_logs import (
    SampleLog,
    WitnessProcess,
    free_witness_port,
    running_witness,
    witness_env,
)

#: The sealer key of every ledger these witnesses watch.
SEALER = SigningKey.from_seed("anchor-witness.test/sealer", bytes([41]) * 32)


async def seal_ledger(database_url: str, blocks: dict[int, list[int]]) -> None:
    """Seal blocks of the given sizes per partition (shard) with :data:`SEALER`, trusted from the start."""
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        for partition, sizes in blocks.items():
            await seal_blocks(conn, partition, sizes, SEALER)


@dataclass
class TestWitness:
    """One witness party: its key, port and folder; ``start`` runs it (again) on that port."""

    __test__ = False  # not a test class, despite its name

    key: SigningKey
    folder: Path
    port: int
    shards: int

    @property
    def verifier(self) -> CosignatureVerifier:
        """The witness's cosignature verifier key."""
        return cosigner(self.key)

    @property
    def url(self) -> str:
        """Its submission prefix."""
        return f"http://127.0.0.1:{self.port}"

    def entry(self) -> str:
        """Its ``PROVLEDGER_WITNESSES`` entry."""
        return f"{self.verifier.verifier_key_string()} {self.url}"

    @contextlib.contextmanager
    def start(self, state: str = "state") -> Iterator[WitnessProcess]:
        """Run it with the state file ``<folder>/<state>.sqlite3`` until the block ends."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "witness.pem").write_bytes(self.key.to_pem())
        logs = [SampleLog(shard_origin(LOG_ORIGIN, shard), SEALER) for shard in range(self.shards)]
        env = witness_env(self.folder, logs, self.port, self.folder / f"{state}.sqlite3")
        env["PROVLEDGER_WITNESS_NAME"] = self.key.name
        with running_witness(env, self.folder / f"{state}.log") as process:
            yield process


def witness_parties(folder: Path, count: int, shards: int = 2) -> list[TestWitness]:
    """``count`` witness parties, named ``participant-<i>.test/witness``, none started."""
    return [
        TestWitness(
            SigningKey.from_seed(f"participant-{i}.test/witness", bytes([50 + i]) * 32),
            folder / f"witness-{i}",
            free_witness_port(),
            shards,
        )
        for i in range(count)
    ]


def clients(witnesses: Sequence[TestWitness], timeout_s: float = 5.0) -> list[WitnessClient]:
    """The anchorer's clients of ``witnesses``, as ``PROVLEDGER_WITNESSES`` would configure them."""
    entries = ",".join(w.entry() for w in witnesses)
    return [WitnessClient(endpoint, timeout_s) for endpoint in parse_witnesses(entries)]


def answers(process: WitnessProcess) -> dict[str, int]:
    """The witness's add-checkpoint answers so far, by HTTP status (from its /metrics)."""
    text = httpx.get(process.url + "/metrics", timeout=5).text
    found = re.findall(r'^provledger_witness_answers_total\{status="(\d+)"\} ([0-9.e+]+)$', text, re.M)
    return {status: int(float(count)) for status, count in found}


@contextlib.asynccontextmanager
async def witnessing_anchorer(
    database_url: str,
    kafka: KafkaSettings,
    witnesses: Sequence[WitnessClient],
    kinds: Sequence[AnchorKind] = (),
    *,
    interval_s: float = 0.05,
    topic_name: str | None = None,
) -> AsyncIterator[Anchorer]:
    """An active anchorer with ``witnesses`` (and ``kinds``) on its own pool and the test's topic.

    ``topic_name`` puts its statements on another checkpoints topic (a fresh one: a lost topic).
    """
    pool = await create_pool(database_url)
    topic = CheckpointTopic(kafka.require_kafka_bootstrap(), topic_name or kafka.topic_checkpoints, "test")
    metrics = AnchorerMetrics(tuple(kind.name for kind in kinds))
    try:
        replica = Anchorer(
            pool, ANCHORER, kinds, topic, AnchorerOptions(ORIGIN, interval_s, 3600.0), metrics, witnesses
        )
        await replica.take_over()
        yield replica
    finally:
        await topic.stop()
        await pool.close()
