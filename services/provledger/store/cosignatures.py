"""The anchorer's reads and writes of witness cosignatures (``checkpoint_cosignatures``, migration 0009).

The anchorer's witness client (:mod:`provledger.anchor.tlog_witness`) needs three things of the
database: the shard checkpoint notes of the heads it anchored, the size each witness last
cosigned per shard (where its next consistency proof starts), and a place to keep each
cosignature line once it verified. Reading cosignatures for the API and audit is
:mod:`provledger.store.witnessed`'s job, not this module's.

Every query here is a probe of a primary key or index, one round trip for all shards, so a tick
costs the same at 4 shards or 1,024 whatever the table's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from provledger.store.db import Conn


@dataclass(frozen=True, slots=True)
class ShardCheckpoint:
    """One stored shard checkpoint: the sealer-signed note of ``shard``'s log at ``tree_size``."""

    shard: int
    tree_size: int
    note: str


async def checkpoints_at(conn: Conn, wanted: Sequence[tuple[int, int]]) -> list[ShardCheckpoint]:
    """The stored checkpoints at each ``(shard, tree_size)`` of ``wanted`` that exist, by shard."""
    if not wanted:
        return []
    rows = await conn.fetch(
        "SELECT c.shard, c.tree_size, c.note FROM shard_checkpoints c "
        "JOIN unnest($1::int[], $2::bigint[]) AS want(shard, tree_size) "
        "ON c.shard = want.shard AND c.tree_size = want.tree_size ORDER BY c.shard",
        [shard for shard, _ in wanted],
        [size for _, size in wanted],
    )
    return [ShardCheckpoint(r["shard"], r["tree_size"], r["note"]) for r in rows]


async def cosigned_sizes(conn: Conn, witness_key: str, shards: Sequence[int]) -> dict[int, int]:
    """The largest size ``witness_key`` cosigned of each of ``shards`` (absent: it cosigned none)."""
    rows = await conn.fetch(
        "SELECT s.shard, last.tree_size FROM unnest($2::int[]) AS s(shard) CROSS JOIN LATERAL ("
        "  SELECT tree_size FROM checkpoint_cosignatures c WHERE c.witness_key = $1 AND c.shard = s.shard"
        "  ORDER BY tree_size DESC LIMIT 1) AS last",
        witness_key,
        list(shards),
    )
    return {r["shard"]: r["tree_size"] for r in rows}


async def insert_cosignature(
    conn: Conn, shard: int, tree_size: int, witness_key: str, line: str, cosigned_at: datetime
) -> bool:
    """Store one verified cosignature line, exactly as the witness sent it; False if it was stored already.

    Idempotent on ``(shard, tree_size, witness_key)``: a retry after a crash, or a second answer
    of the same witness for the same checkpoint, keeps the first line.
    """
    status: str = await conn.execute(
        "INSERT INTO checkpoint_cosignatures (shard, tree_size, witness_key, cosignature, cosigned_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (shard, tree_size, witness_key) DO NOTHING",
        shard,
        tree_size,
        witness_key,
        line,
        cosigned_at,
    )
    return status == "INSERT 0 1"
