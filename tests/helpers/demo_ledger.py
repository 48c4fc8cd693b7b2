"""The demo platform's story sealed into a real database, as tests of what the API shows need it.

``provledger demo``'s workload goes through the real broker (the SDK's own producer), is read
back from the events topic, and is sealed into signed blocks of ``block_size`` events with the
sealer's ``ShardLog`` (:func:`tests.helpers.api_harness.seal`): smaller blocks spread the
demo's edges over more seal times.
"""

from __future__ import annotations

import asyncio

import asyncpg

from provledger.config import KafkaSettings
from provledger.demo.workload import run_demo
from provledger.emit import SyncEmitter
from tests.helpers.api_harness import seal
from tests.integration.api.test_api_demo_lineage import _all_events


async def seal_demo(
    database_url: str, kafka: KafkaSettings, *, block_size: int, duration_s: float = 0.3
) -> int:
    """Play the demo for ``duration_s`` of inference traffic and seal it; how many events."""

    def play() -> None:
        with SyncEmitter(kafka) as emitter:
            run_demo(emitter, duration_s=duration_s, inference_rate=20, say=lambda _: None)

    await asyncio.to_thread(play)
    events = await _all_events(kafka)
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events, block_size=block_size)
    finally:
        await conn.close()
    return len(events)
