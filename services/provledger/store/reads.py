"""What the API reads from the ledger: events, runs, shards, blocks, keys, checkpoints, tiles.

Every function is one or two indexed queries (primary keys or the ``events_run`` index) and
returns plain rows or small frozen values; nothing here knows HTTP. Lists take a keyset cursor
(the last key of the previous page) and a limit, so a page costs the same wherever it starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from provledger.ledger.compact import CompactRange
from provledger.ledger.proofs import range_nodes
from provledger.store.db import Conn
from provledger.store.tiles import read_nodes

_EVENT_COLUMNS = (
    "e.event_id, e.shard, e.leaf_index, e.height, e.leaf_hash, e.canonical, e.event_time, e.event_type, "
    "e.run_id, e.job_namespace, e.job_name"
)


@dataclass(frozen=True, slots=True)
class SealedEvent:
    """A sealed event as stored: its canonical bytes and where it sits in its shard's log."""

    event_id: uuid.UUID
    shard: int
    leaf_index: int
    height: int
    leaf_hash: bytes
    canonical: bytes
    event_time: datetime
    event_type: str
    run_id: str
    job_namespace: str
    job_name: str


@dataclass(frozen=True, slots=True)
class EvidenceRows:
    """What an evidence bundle is built from: the event, its block and that block's checkpoint."""

    event: SealedEvent
    header: bytes
    signature: bytes
    checkpoint: str | None
    verifier_keys: tuple[str, ...]


def _event(r: asyncpg.Record) -> SealedEvent:
    return SealedEvent(
        event_id=r["event_id"],
        shard=r["shard"],
        leaf_index=r["leaf_index"],
        height=r["height"],
        leaf_hash=bytes(r["leaf_hash"]),
        canonical=bytes(r["canonical"]),
        event_time=r["event_time"],
        event_type=r["event_type"],
        run_id=r["run_id"],
        job_namespace=r["job_namespace"],
        job_name=r["job_name"],
    )


async def event(conn: Conn, event_id: uuid.UUID) -> SealedEvent | None:
    """The sealed event ``event_id``, or None if no block holds it (yet)."""
    row = await conn.fetchrow(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.event_id = $1", event_id)
    return None if row is None else _event(row)


async def evidence_rows(conn: Conn, event_id: uuid.UUID) -> EvidenceRows | None:
    """The event, the signed header of the block that sealed it, its checkpoint and its key, in one query."""
    row = await conn.fetchrow(
        f"SELECT {_EVENT_COLUMNS}, b.header, b.signature, c.note, "
        "ARRAY(SELECT k.verifier_key FROM signing_keys k WHERE k.key_id = b.key_id ORDER BY k.valid_from) "
        "AS verifier_keys "
        "FROM events e JOIN blocks b ON b.shard = e.shard AND b.height = e.height "
        "LEFT JOIN shard_checkpoints c ON c.shard = b.shard AND c.height = b.height "
        "WHERE e.event_id = $1",
        event_id,
    )
    if row is None:
        return None
    return EvidenceRows(
        event=_event(row),
        header=bytes(row["header"]),
        signature=bytes(row["signature"]),
        checkpoint=row["note"],
        verifier_keys=tuple(row["verifier_keys"]),
    )


async def verifier_keys(conn: Conn, key_ids: Sequence[bytes]) -> list[str]:
    """The C2SP verifier-key strings of every registered key with one of ``key_ids``."""
    rows = await conn.fetch(
        "SELECT verifier_key FROM signing_keys WHERE key_id = ANY($1::bytea[]) ORDER BY valid_from",
        list(key_ids),
    )
    return [row["verifier_key"] for row in rows]


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    parent_run_id: str | None
    job_namespace: str
    job_name: str
    first_seen: datetime


async def run(conn: Conn, run_id: str) -> RunRecord | None:
    """The run as lineage recorded it, or None if no sealed event names it."""
    row = await conn.fetchrow(
        "SELECT run_id, parent_run_id, job_namespace, job_name, first_seen FROM runs WHERE run_id = $1",
        run_id,
    )
    return None if row is None else RunRecord(**dict(row.items()))


async def run_events(
    conn: Conn, run_id: str, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[SealedEvent]:
    """The run's sealed events in event-time order, after the ``(event_time, event_id)`` cursor."""
    rows = await conn.fetch(
        f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.run_id = $1 "
        "AND ($2::timestamptz IS NULL OR (e.event_time, e.event_id) > ($2, $3::uuid)) "
        "ORDER BY e.event_time, e.event_id LIMIT $4",
        run_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_event(row) for row in rows]


_SHARD_QUERY = """
SELECT s.shard, s.topic, s.partition, s.created_at, h.height, h.tree_size, h.log_root, h.block_hash,
       h.sealed_at
FROM shards s
LEFT JOIN LATERAL (
    SELECT b.height, b.tree_size, b.log_root, b.block_hash, b.sealed_at FROM blocks b
    WHERE b.shard = s.shard ORDER BY b.height DESC LIMIT 1
) h ON true
"""


async def shards(conn: Conn, after: int | None, limit: int) -> list[dict[str, Any]]:
    """Shards in number order after ``after``, each with its head block (None before the first)."""
    rows = await conn.fetch(
        _SHARD_QUERY + "WHERE $1::int IS NULL OR s.shard > $1 ORDER BY s.shard LIMIT $2", after, limit
    )
    return [dict(row.items()) for row in rows]


async def shard(conn: Conn, number: int) -> dict[str, Any] | None:
    """One shard with its head block, or None if there is no such shard."""
    row = await conn.fetchrow(_SHARD_QUERY + "WHERE s.shard = $1", number)
    return None if row is None else dict(row.items())


_BLOCK_QUERY = """
SELECT b.shard, b.height, b.block_hash, b.header, b.signature, b.key_id, c.note
FROM blocks b LEFT JOIN shard_checkpoints c ON c.shard = b.shard AND c.height = b.height
"""


async def block(conn: Conn, shard_number: int, height: int) -> dict[str, Any] | None:
    """The block at ``height`` of the shard with its checkpoint note, or None."""
    row = await conn.fetchrow(_BLOCK_QUERY + "WHERE b.shard = $1 AND b.height = $2", shard_number, height)
    return None if row is None else dict(row.items())


async def blocks(conn: Conn, shard_number: int, after: int | None, limit: int) -> list[dict[str, Any]]:
    """The shard's blocks in height order after the height ``after``."""
    rows = await conn.fetch(
        _BLOCK_QUERY
        + "WHERE b.shard = $1 AND ($2::bigint IS NULL OR b.height > $2) ORDER BY b.height LIMIT $3",
        shard_number,
        after,
        limit,
    )
    return [dict(row.items()) for row in rows]


async def tree_size(conn: Conn, shard_number: int) -> int | None:
    """Leaves in the shard's log after its latest block: 0 before the first, None if no such shard."""
    row = await conn.fetchrow(
        "SELECT s.shard, (SELECT b.tree_size FROM blocks b WHERE b.shard = s.shard "
        "ORDER BY b.height DESC LIMIT 1) AS tree_size FROM shards s WHERE s.shard = $1",
        shard_number,
    )
    if row is None:
        return None
    return row["tree_size"] or 0


async def root_at(conn: Conn, shard_number: int, size: int) -> bytes:
    """The RFC 9162 root of the shard's first ``size`` leaves, from O(log n) stored nodes (size > 0)."""
    return CompactRange(size, await read_nodes(conn, shard_number, range_nodes(0, size))).root()


#: Who a public key belongs to: the sealer signs blocks and shard checkpoints, the anchorer signs
#: shard-heads statements. A verifier MUST NOT accept one's signature where the other's is due.
KEY_ROLES = ("anchorer", "sealer")


async def keys(conn: Conn, after: tuple[datetime, str, bytes] | None, limit: int) -> list[dict[str, Any]]:
    """Sealer and anchorer public keys ordered by ``(valid_from, role, public_key)``, after ``after``.

    The two tables are one list: ``public_key`` is unique within each and ``role`` tells them
    apart, so the triple orders every key once and a page ends where the next begins. A key's
    ``valid_until`` is when the next key of its role took over (the sealer's ``valid_from``, the
    anchorer's ``first_used``), null for the current one.
    """
    rows = await conn.fetch(
        "SELECT * FROM (SELECT 'sealer' AS role, key_id, name, public_key, verifier_key, valid_from, "
        "lead(valid_from) OVER (ORDER BY valid_from) AS valid_until FROM signing_keys "
        "UNION ALL SELECT 'anchorer', key_id, name, public_key, verifier_key, first_used, "
        "lead(first_used) OVER (ORDER BY first_used, public_key) FROM anchorer_keys) k "
        "WHERE $1::timestamptz IS NULL OR (k.valid_from, k.role, k.public_key) > ($1, $2::text, $3::bytea) "
        "ORDER BY k.valid_from, k.role, k.public_key LIMIT $4",
        *(after or (None, None, None)),
        limit,
    )
    return [dict(row.items()) for row in rows]


async def latest_checkpoint(conn: Conn, shard_number: int) -> str | None:
    """The signed-note checkpoint of the shard's latest block, or None before its first."""
    note: str | None = await conn.fetchval(
        "SELECT note FROM shard_checkpoints WHERE shard = $1 ORDER BY height DESC LIMIT 1", shard_number
    )
    return note


async def tile(conn: Conn, shard_number: int, level: int, index: int, width: int) -> bytes | None:
    """The first ``width`` hashes of tile ``(level, index)``, from the narrowest version holding them."""
    hashes: bytes | None = await conn.fetchval(
        "SELECT hashes FROM merkle_tiles WHERE shard = $1 AND tile_level = $2 AND tile_index = $3 "
        "AND width >= $4 ORDER BY width LIMIT 1",
        shard_number,
        level,
        index,
        width,
    )
    return None if hashes is None else bytes(hashes)[: 32 * width]


async def entries(conn: Conn, shard_number: int, first: int, count: int) -> list[bytes]:
    """Canonical bytes of leaves ``[first, first + count)`` of the shard, in leaf order."""
    rows = await conn.fetch(
        "SELECT canonical FROM events WHERE shard = $1 AND leaf_index >= $2 AND leaf_index < $3 "
        "ORDER BY leaf_index",
        shard_number,
        first,
        first + count,
    )
    return [bytes(row["canonical"]) for row in rows]
