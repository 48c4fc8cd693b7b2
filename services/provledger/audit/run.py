"""Drive the audit over a database: stream each shard's rows through :class:`ShardAudit`, then the anchors.

One ``REPEATABLE READ READ ONLY`` transaction sees one snapshot of every table, so blocks the
sealer commits meanwhile are simply not audited yet, never half-seen. Blocks, events, checkpoint
notes and each tile level are separate cursors merged in leaf order: memory is a page per cursor
plus one block's leaf hashes, whatever the shard's size.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Generic, TypeVar

from provledger.audit.anchor_run import PublishedRecords, audit_anchors
from provledger.audit.anchors import ReceiptCheck
from provledger.audit.keys import audit_key_tables
from provledger.audit.report import AuditReport, Mismatch
from provledger.audit.shard import ShardAudit
from provledger.audit.tiles import match_tile
from provledger.errors import VerificationError
from provledger.ledger.keys import KeySet
from provledger.store.audit_reads import (
    StoredCheckpoint,
    TileLevelReader,
    has_table,
    list_shards,
    orphan_events,
    stream_blocks,
    stream_checkpoints,
    stream_events,
    stream_tiles_above,
)
from provledger.store.db import Conn
from provledger.store.keys import load_keyset
from provledger.store.unavailable import unavailable_as_service_error

#: Mismatches listed in full per shard (all are counted); keeps a badly damaged shard's report small.
DEFAULT_MAX_LISTED = 1000

#: Called with (events audited so far, events the shards' newest blocks claim in all).
Progress = Callable[[int, int], None]

T = TypeVar("T")


class _Ahead(Generic[T]):
    """An async iterator read one item ahead, for merging ordered streams."""

    def __init__(self, items: AsyncIterator[T]) -> None:
        self._items = items
        self._next: T | None = None

    async def peek(self) -> T | None:
        if self._next is None:
            self._next = await anext(self._items, None)
        return self._next

    def pop(self) -> None:
        self._next = None


async def audit_ledger(
    conn: Conn,
    *,
    progress: Progress | None = None,
    max_listed: int = DEFAULT_MAX_LISTED,
    trusted_keys: KeySet | None = None,
    receipt_checks: Mapping[str, ReceiptCheck] | None = None,
    published: PublishedRecords | None = None,
    anchor_progress: Progress | None = None,
) -> AuditReport:
    """Recheck every shard and every anchored statement behind ``conn``; the report lists what does not match.

    Block signatures, checkpoint notes and statements are checked against ``trusted_keys`` when
    given (their validity ranges included), and every key the database's key tables hold outside
    them is a mismatch (:mod:`provledger.audit.keys`); else against the keys the database records
    (which whoever can rewrite it can swap), and the report says so.
    ``receipt_checks`` are the receipt kinds the caller can check (others are counted as
    unchecked); ``published`` are the checkpoints topic's records, read up to an end fixed
    before this is called (:meth:`provledger.anchor.topic.CheckpointTopic.history`).

    A database that goes away mid-audit raises :class:`~provledger.errors.ServiceUnavailable`:
    there is no report to give, and the caller answers as for a database it could not reach.
    """
    with unavailable_as_service_error("cannot finish auditing the ledger database"):
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            shards = await list_shards(conn)
            keyset: KeySet | VerificationError
            try:
                keyset = trusted_keys if trusted_keys is not None else await load_keyset(conn)
            except VerificationError as exc:
                keyset = exc
            checkpoints = await has_table(conn, "shard_checkpoints")
            total = sum(info.tree_size for info in shards)
            audits: list[ShardAudit] = []
            key_ids: set[bytes] = set()
            done = 0
            for info in shards:
                audit = ShardAudit(info, keyset, max_listed)
                audits.append(audit)
                base = done

                def tick(events: int, base: int = base) -> None:
                    if progress is not None:
                        progress(base + events, total)

                await _audit_shard(conn, audit, checkpoints, tick, key_ids)
                done += audit.events
            await _attribute_orphans(conn, audits, max_listed)
            anchors = await audit_anchors(
                conn, trusted_keys=trusted_keys, block_key_ids=key_ids, checkers=receipt_checks or {},
                published=published, progress=anchor_progress, max_listed=max_listed,
            )  # fmt: skip
            keys = await audit_key_tables(conn, trusted_keys)
    return AuditReport(tuple(audit.report() for audit in audits), checkpoints, anchors, keys)


async def _audit_shard(
    conn: Conn, audit: ShardAudit, checkpoints: bool, tick: Callable[[int], None], key_ids: set[bytes]
) -> None:
    shard = audit.info.shard
    events = _Ahead(stream_events(conn, shard))
    notes = _Ahead(stream_checkpoints(conn, shard)) if checkpoints else None
    tiles: dict[int, TileLevelReader] = {}
    async for row in stream_blocks(conn, shard):
        key_ids.add(row.key_id)
        end = audit.open_block(row)
        if notes is not None:
            audit.check_checkpoint(await _note_for(audit, notes, row.height))
        while (event := await events.peek()) is not None and event.leaf_index < end:
            audit.add_event(event)
            events.pop()
        for expected in audit.close_block():
            reader = tiles.setdefault(expected.tile_level, TileLevelReader(conn, shard, expected.tile_level))
            for mismatch in match_tile(expected, await reader.through(expected.coordinate)):
                audit.record(mismatch)
        tick(audit.events)
    while (event := await events.peek()) is not None:
        audit.orphan_event(event, None)
        events.pop()
    await _leftover_tiles(conn, audit, tiles)
    if notes is not None:
        await _note_for(audit, notes, None)
    tick(audit.events)


async def _note_for(
    audit: ShardAudit, notes: _Ahead[StoredCheckpoint], height: int | None
) -> StoredCheckpoint | None:
    """The note of block ``height``; notes of heights with no block on the way are mismatches."""
    while (note := await notes.peek()) is not None and (height is None or note.height <= height):
        notes.pop()
        if note.height == height:
            return note
        audit.record(
            Mismatch("checkpoint", note.height, "a shard checkpoint note names a block that is not stored")
        )
    return None


async def _attribute_orphans(conn: Conn, audits: list[ShardAudit], max_listed: int) -> None:
    """Name each event that lineage remembers but ``events`` lost, under the block that sealed it.

    A block is found by its ``sealed_at``; where two shards sealed at the same microsecond, the
    block with leaf indexes missing is the one that lost the event.
    """
    by_shard = {audit.info.shard: audit for audit in audits}
    candidates: dict[uuid.UUID, list[tuple[ShardAudit, int | None]]] = {}
    for orphan in await orphan_events(conn, max_listed):
        owner = by_shard.get(orphan.shard) if orphan.shard is not None else None
        if owner is not None or audits:
            candidates.setdefault(orphan.event_id, []).append((owner or audits[0], orphan.height))
    for event_id, places in candidates.items():
        audit, height = next(
            ((a, h) for a, h in places if h is not None and a.has_missing_events(h)), places[0]
        )
        audit.orphan_event(event_id, height)


async def _leftover_tiles(conn: Conn, audit: ShardAudit, tiles: dict[int, TileLevelReader]) -> None:
    """Tile versions past the tree's last expected one, at any level, belong to no block."""
    shard = audit.info.shard
    for level in range(audit.tile_levels):
        reader = tiles.setdefault(level, TileLevelReader(conn, shard, level))
        async for tile in reader.rest():
            where = f"tile {level}/{tile.tile_index} width {tile.width}"
            audit.record(Mismatch("tile_unexpected", None, f"{where} lies beyond the tree"))
    async for level, tile in stream_tiles_above(conn, shard, audit.tile_levels):
        where = f"tile {level}/{tile.tile_index} width {tile.width}"
        audit.record(Mismatch("tile_unexpected", None, f"{where} lies above the tree's highest tile level"))
