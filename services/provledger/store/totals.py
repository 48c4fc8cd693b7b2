"""How much is sealed so far, per shard: the figures ``provledger up`` prints while it runs."""

from __future__ import annotations

from dataclasses import dataclass

from provledger.store.db import Conn


@dataclass(frozen=True, slots=True)
class ShardTotals:
    """Blocks and events sealed so far in one shard (one partition of one ingested topic)."""

    topic: str
    partition: int
    blocks: int
    events: int


async def sealed_per_shard(conn: Conn) -> list[ShardTotals]:
    """Every shard with at least one block, by topic and partition.

    One aggregate over ``blocks``: fine for a local stack's progress line every few seconds, not
    for a hot path (it reads every block header).
    """
    rows = await conn.fetch(
        "SELECT s.topic, s.partition, count(*) AS blocks, sum(b.event_count) AS events "
        "FROM blocks b JOIN shards s USING (shard) GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [ShardTotals(r["topic"], r["partition"], r["blocks"], r["events"]) for r in rows]
