"""Stream a shard's stored ledger rows in order, in bounded memory, for the audit.

Everything is read through server-side cursors inside the caller's transaction (the audit opens
one ``REPEATABLE READ READ ONLY`` transaction, so it checks one consistent snapshot while the
sealer goes on appending). Blocks come by height, events by leaf index and tiles level by level,
each from its primary-key or unique index, so no query sorts and memory holds one prefetch page
per cursor however long the shard is. Rows are returned exactly as stored: checking them is the
pure audit's job (:mod:`provledger.audit`).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from provledger.ledger.checkpoint import ShardHead
from provledger.store.db import Conn

#: Rows per round trip. Events carry their canonical bytes (a few hundred bytes each), tiles up to 8 KiB.
EVENT_PAGE, BLOCK_PAGE, TILE_PAGE, NOTE_PAGE = 2000, 500, 64, 500


def _micros(column: str) -> str:
    # extract(epoch ...) is numeric since PostgreSQL 14: exact to the microsecond, no float rounding.
    return f"(extract(epoch FROM {column}) * 1000000)::bigint AS {column}"


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """A shard and the tree size its newest block claims (0 without blocks), for progress totals."""

    shard: int
    topic: str
    partition: int
    tree_size: int


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """One ``blocks`` row as stored; times in microseconds since the Unix epoch."""

    shard: int
    height: int
    block_hash: bytes
    prev_block_hash: bytes
    header: bytes
    signature: bytes
    key_id: bytes
    batch_root: bytes
    tree_size: int
    log_root: bytes
    first_offset: int
    last_offset: int
    event_count: int
    min_event_time: int
    max_event_time: int
    sealed_at: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """The columns of one ``events`` row the audit checks."""

    event_id: uuid.UUID
    leaf_index: int
    height: int
    leaf_hash: bytes
    canonical: bytes
    event_time: int
    source_offset: int


@dataclass(frozen=True, slots=True)
class StoredTile:
    """One stored tile version of one tile level."""

    tile_index: int
    width: int
    hashes: bytes

    @property
    def coordinate(self) -> tuple[int, int]:
        """``(tile_index, width)``: versions of a level are stored, and read, in this order."""
        return self.tile_index, self.width


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """One ``shard_checkpoints`` row: the signed note of the shard's log after block ``height``."""

    height: int
    tree_size: int
    note: str


@dataclass(frozen=True, slots=True)
class OrphanEvent:
    """An event id that lineage edges name but ``events`` lacks, with the block sealed at that time."""

    event_id: uuid.UUID
    shard: int | None
    height: int | None


async def list_shards(conn: Conn) -> list[ShardInfo]:
    """Every registered shard with the tree size of its newest block (one index probe each)."""
    rows = await conn.fetch(
        "SELECT s.shard, s.topic, s.partition, coalesce((SELECT b.tree_size FROM blocks b "
        "WHERE b.shard = s.shard ORDER BY b.height DESC LIMIT 1), 0) AS tree_size "
        "FROM shards s ORDER BY s.shard"
    )
    return [ShardInfo(r["shard"], r["topic"], r["partition"], r["tree_size"]) for r in rows]


async def _paged(conn: Conn, query: str, args: tuple[Any, ...], page: int) -> AsyncIterator[asyncpg.Record]:
    cursor = await conn.cursor(query, *args)
    while rows := await cursor.fetch(page):
        for row in rows:
            yield row


async def stream_blocks(conn: Conn, shard: int) -> AsyncIterator[StoredBlock]:
    """The shard's blocks by height. Must run inside a transaction, as every cursor."""
    query = (
        "SELECT shard, height, block_hash, prev_block_hash, header, signature, key_id, batch_root, "
        "tree_size, log_root, first_offset, last_offset, event_count, "
        f"{_micros('min_event_time')}, {_micros('max_event_time')}, {_micros('sealed_at')} "
        "FROM blocks WHERE shard = $1 ORDER BY height"
    )
    async for r in _paged(conn, query, (shard,), BLOCK_PAGE):
        yield StoredBlock(
            r["shard"], r["height"], bytes(r["block_hash"]), bytes(r["prev_block_hash"]), bytes(r["header"]),
            bytes(r["signature"]), bytes(r["key_id"]), bytes(r["batch_root"]), r["tree_size"],
            bytes(r["log_root"]), r["first_offset"], r["last_offset"], r["event_count"],
            r["min_event_time"], r["max_event_time"], r["sealed_at"],
        )  # fmt: skip


async def stream_events(conn: Conn, shard: int) -> AsyncIterator[StoredEvent]:
    """The shard's events by leaf index."""
    query = (
        f"SELECT event_id, leaf_index, height, leaf_hash, canonical, {_micros('event_time')}, source_offset "
        "FROM events WHERE shard = $1 ORDER BY leaf_index"
    )
    async for r in _paged(conn, query, (shard,), EVENT_PAGE):
        yield StoredEvent(
            r["event_id"], r["leaf_index"], r["height"], bytes(r["leaf_hash"]), bytes(r["canonical"]),
            r["event_time"], r["source_offset"],
        )  # fmt: skip


async def stream_checkpoints(conn: Conn, shard: int) -> AsyncIterator[StoredCheckpoint]:
    """The shard's checkpoint notes by height."""
    query = "SELECT height, tree_size, note FROM shard_checkpoints WHERE shard = $1 ORDER BY height"
    async for r in _paged(conn, query, (shard,), NOTE_PAGE):
        yield StoredCheckpoint(r["height"], r["tree_size"], r["note"])


class TileLevelReader:
    """The stored versions of one tile level of one shard, consumed in ``(tile_index, width)`` order."""

    def __init__(self, conn: Conn, shard: int, tile_level: int) -> None:
        self._conn = conn
        self._args = (shard, tile_level)
        self._cursor: asyncpg.cursor.Cursor[asyncpg.Record] | None = None
        self._buffer: deque[StoredTile] = deque()
        self._exhausted = False

    async def _fill(self) -> bool:
        if not self._buffer and not self._exhausted:
            if self._cursor is None:
                self._cursor = await self._conn.cursor(
                    "SELECT tile_index, width, hashes FROM merkle_tiles "
                    "WHERE shard = $1 AND tile_level = $2 ORDER BY tile_index, width",
                    *self._args,
                )
            rows = await self._cursor.fetch(TILE_PAGE)
            self._exhausted = len(rows) < TILE_PAGE
            self._buffer.extend(StoredTile(r["tile_index"], r["width"], bytes(r["hashes"])) for r in rows)
        return bool(self._buffer)

    async def through(self, coordinate: tuple[int, int]) -> list[StoredTile]:
        """Take every remaining version up to and including ``coordinate``."""
        taken = []
        while await self._fill() and self._buffer[0].coordinate <= coordinate:
            taken.append(self._buffer.popleft())
        return taken

    async def rest(self) -> AsyncIterator[StoredTile]:
        """The versions left over after the last expected one."""
        while await self._fill():
            yield self._buffer.popleft()


async def stream_tiles_above(
    conn: Conn, shard: int, tile_level: int
) -> AsyncIterator[tuple[int, StoredTile]]:
    """``(tile_level, tile)`` of every tile version stored at ``tile_level`` or above (none, normally)."""
    query = (
        "SELECT tile_level, tile_index, width, hashes FROM merkle_tiles "
        "WHERE shard = $1 AND tile_level >= $2 ORDER BY tile_level, tile_index, width"
    )
    async for r in _paged(conn, query, (shard, tile_level), TILE_PAGE):
        yield r["tile_level"], StoredTile(r["tile_index"], r["width"], bytes(r["hashes"]))


async def has_table(conn: Conn, name: str) -> bool:
    """Whether ``name`` exists in the search path (a migration may not be applied yet)."""
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))


async def orphan_events(conn: Conn, limit: int) -> list[OrphanEvent]:
    """Event ids named by lineage edges but missing from ``events``: how a deleted event is still named.

    Edges record the sealing block's ``sealed_at``, which points back at the block (one hash
    anti-join and one hash join, no index needed; normally both are empty).
    """
    rows = await conn.fetch(
        "SELECT o.event_id, b.shard, b.height FROM (SELECT DISTINCT l.event_id, l.recorded_at "
        "FROM lineage_edges l WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = l.event_id)) o "
        "LEFT JOIN blocks b ON b.sealed_at = o.recorded_at ORDER BY o.event_id, b.shard, b.height LIMIT $1",
        limit,
    )
    return [OrphanEvent(r["event_id"], r["shard"], r["height"]) for r in rows]


@dataclass(frozen=True, slots=True)
class BlockRef:
    """What a stored block says of itself, to compare with a statement's head: hash and tree."""

    block_hash: bytes
    tree_size: int
    log_root: bytes


@dataclass(frozen=True, slots=True)
class StoredHead:
    """One ``checkpoint_heads`` row, with the ``blocks`` row it names (None when that block is gone)."""

    shard: int
    height: int
    tree_size: int
    log_root: bytes
    block_hash: bytes
    block: BlockRef | None

    def head(self) -> ShardHead:
        """The head as a statement's extension line names it."""
        return ShardHead(self.shard, self.height, self.block_hash)


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    """One ``anchor_receipts`` row: its kind and its JSON fields (a str when they are not an object)."""

    kind: str
    fields: dict[str, Any] | str


@dataclass(frozen=True, slots=True)
class AuditedStatement:
    """One ``checkpoints`` row with its heads and receipts, as stored."""

    seq: int
    origin: str
    shard_count: int
    root: bytes
    note: str
    heads: tuple[StoredHead, ...]
    receipts: tuple[StoredReceipt, ...]


#: Statements per round trip: each page costs three queries (statements, heads with their blocks, receipts).
STATEMENT_PAGE = 200


def _block_ref(row: asyncpg.Record) -> BlockRef | None:
    if row["b_hash"] is None:
        return None
    return BlockRef(bytes(row["b_hash"]), row["b_tree_size"], bytes(row["b_log_root"]))


def _receipt_json(stored: str) -> dict[str, Any] | str:
    value = json.loads(stored)
    return value if isinstance(value, dict) else stored


async def count_statements(conn: Conn) -> int:
    """How many statements are stored, for progress."""
    return int(await conn.fetchval("SELECT count(*) FROM checkpoints"))


async def stream_statements(conn: Conn) -> AsyncIterator[AuditedStatement]:
    """Every stored statement by ``seq``, each with its heads (and their blocks) and receipts.

    A page of statements at a time from a cursor, then their heads and receipts in one query
    each, so memory holds one page whatever the number of statements.
    """
    cursor = await conn.cursor("SELECT seq, origin, shard_count, root, note FROM checkpoints ORDER BY seq")
    while rows := await cursor.fetch(STATEMENT_PAGE):
        seqs = [r["seq"] for r in rows]
        heads: dict[int, list[StoredHead]] = {seq: [] for seq in seqs}
        for h in await conn.fetch(
            "SELECT h.seq, h.shard, h.height, h.tree_size, h.log_root, h.block_hash, "
            "b.block_hash AS b_hash, b.tree_size AS b_tree_size, b.log_root AS b_log_root "
            "FROM checkpoint_heads h LEFT JOIN blocks b ON b.shard = h.shard AND b.height = h.height "
            "WHERE h.seq = ANY($1::bigint[]) ORDER BY h.seq, h.shard",
            seqs,
        ):
            heads[h["seq"]].append(
                StoredHead(h["shard"], h["height"], h["tree_size"], bytes(h["log_root"]),
                           bytes(h["block_hash"]), _block_ref(h))
            )  # fmt: skip
        receipts: dict[int, list[StoredReceipt]] = {seq: [] for seq in seqs}
        for r in await conn.fetch(
            "SELECT seq, kind, receipt FROM anchor_receipts WHERE seq = ANY($1::bigint[]) ORDER BY seq, kind",
            seqs,
        ):
            receipts[r["seq"]].append(StoredReceipt(r["kind"], _receipt_json(r["receipt"])))
        for r in rows:
            yield AuditedStatement(
                r["seq"], r["origin"], r["shard_count"], bytes(r["root"]), r["note"],
                tuple(heads[r["seq"]]), tuple(receipts[r["seq"]]),
            )  # fmt: skip


async def statement_notes(conn: Conn, seqs: list[int]) -> dict[int, str]:
    """The notes of those of ``seqs`` the database holds: what published statements are compared with."""
    rows = await conn.fetch("SELECT seq, note FROM checkpoints WHERE seq = ANY($1::bigint[])", seqs)
    return {r["seq"]: r["note"] for r in rows}


async def blocks_at(conn: Conn, places: list[tuple[int, int]]) -> dict[tuple[int, int], BlockRef]:
    """The stored blocks at ``(shard, height)`` places, one query: what published heads are compared with."""
    rows = await conn.fetch(
        "SELECT b.shard, b.height, b.block_hash AS b_hash, b.tree_size AS b_tree_size, "
        "b.log_root AS b_log_root FROM unnest($1::int[], $2::bigint[]) AS want(shard, height) "
        "JOIN blocks b ON b.shard = want.shard AND b.height = want.height",
        [shard for shard, _ in places],
        [height for _, height in places],
    )
    found = {(r["shard"], r["height"]): _block_ref(r) for r in rows}
    return {place: ref for place, ref in found.items() if ref is not None}


async def anchorer_keys(conn: Conn) -> list[str]:
    """Every anchorer verifier key the database records, oldest first."""
    return [
        r["verifier_key"]
        for r in await conn.fetch("SELECT verifier_key FROM anchorer_keys ORDER BY first_used")
    ]


async def signing_keys(conn: Conn) -> list[str]:
    """Every block-signing verifier key the database records, oldest first."""
    return [
        r["verifier_key"]
        for r in await conn.fetch("SELECT verifier_key FROM signing_keys ORDER BY valid_from")
    ]
