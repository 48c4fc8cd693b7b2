"""An anchorer for tests: a real :class:`Anchorer` on its own pool, anchoring a test's database.

Its key and origin are fixed here so that tests which read the statements back (and audit them)
know whose they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from provledger.anchor.kinds import AnyAnchorKind
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.anchor.topic import CheckpointTopic
from provledger.config import KafkaSettings
from provledger.ledger.keys import SigningKey
from provledger.store.db import create_pool

ANCHORER = SigningKey.generate("anchorer.test/anchorer")
ORIGIN = "anchorer.test/ledger"


@asynccontextmanager
async def anchorer(
    database_url: str,
    kafka: KafkaSettings,
    kinds: Sequence[AnyAnchorKind],
    *,
    heartbeat_s: float = 3600.0,
    interval_s: float = 0.05,
    topic: Any = None,
    active: bool = True,
) -> AsyncIterator[Anchorer]:
    """An anchorer with its own pool and the test's topic, active (taken over) unless told otherwise."""
    pool = await create_pool(database_url)
    checkpoints = topic or CheckpointTopic(kafka.require_kafka_bootstrap(), kafka.topic_checkpoints, "test")
    options = AnchorerOptions(ORIGIN, interval_s, heartbeat_s)
    metrics = AnchorerMetrics(tuple(kind.name for kind in kinds))
    try:
        replica = Anchorer(pool, ANCHORER, kinds, checkpoints, options, metrics)
        if active:
            await replica.take_over()
        yield replica
    finally:
        if isinstance(checkpoints, CheckpointTopic):
            await checkpoints.stop()
        await pool.close()
