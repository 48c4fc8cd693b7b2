"""The audit against a real sealed ledger: clean when untouched, and naming each row changed behind its back.

Tampering runs as the superuser with ``session_replication_role = replica``, which disables the
append-only triggers (and foreign-key checks): exactly what an attacker with database access can do.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from tests.helpers.sealed_ledger import connected, register, seal_blocks

from provledger.audit import AuditReport, audit_ledger
from provledger.events.rows import SealedBlock
from provledger.ledger.keys import SigningKey

KEY = SigningKey.generate("audit.test/sealer")
#: Shard A crosses tile boundaries (level-0 tiles fill, a level-1 tile starts); shard B is small.
SIZES_A = (5, 300, 1, 260, 40)
SIZES_B = (3, 7, 2)


@dataclass(frozen=True)
class Ledger:
    conn: asyncpg.Connection
    a: list[SealedBlock]
    b: list[SealedBlock]

    async def tamper(self, sql: str, *args: object) -> None:
        async with self.conn.transaction():
            await self.conn.execute("SET LOCAL session_replication_role = replica")
            await self.conn.execute(sql, *args)

    async def audit(self) -> AuditReport:
        return await audit_ledger(self.conn)


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    async with connected(database_url) as conn:
        await register(conn, KEY)
        a = await seal_blocks(conn, 0, SIZES_A, KEY)
        b = await seal_blocks(conn, 1, SIZES_B, KEY)
        yield Ledger(conn, a, b)


def _found(report: AuditReport) -> list[tuple[int, str, int | None, uuid.UUID | None]]:
    return [(shard, m.kind, m.height, m.event_id) for shard, m in report.mismatches()]


async def test_an_untouched_ledger_audits_clean(ledger: Ledger) -> None:
    progress: list[tuple[int, int]] = []
    report = await audit_ledger(ledger.conn, progress=lambda done, total: progress.append((done, total)))
    assert _found(report) == []
    assert report.ok
    assert report.checkpoints_checked
    assert [(s.shard, s.events, s.blocks, s.tree_size) for s in report.shards] == [
        (ledger.a[0].shard, sum(SIZES_A), len(SIZES_A), sum(SIZES_A)),
        (ledger.b[0].shard, sum(SIZES_B), len(SIZES_B), sum(SIZES_B)),
    ]
    total = sum(SIZES_A) + sum(SIZES_B)
    assert report.totals() == {"shards": 2, "events": total, "blocks": 8, "mismatches": 0}
    assert progress[-1] == (total, total)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


async def test_changed_canonical_bytes_name_the_event(ledger: Ledger) -> None:
    block = ledger.a[3]
    event = block.events[17]
    await ledger.tamper(
        "UPDATE events SET canonical = canonical || 'x'::bytea WHERE event_id = $1", event.event_id
    )
    report = await ledger.audit()
    assert not report.ok
    found = _found(report)
    shard, height = block.shard, block.header.height
    assert (shard, "leaf_hash", height, uuid.UUID(event.event_id)) in found
    assert (shard, "batch_root", height, None) in found
    assert (shard, "log_root", height, None) in found
    # The stored level-0 tile still holds the original leaf hash: it no longer matches either.
    assert (shard, "tile", height, uuid.UUID(event.event_id)) in found
    # The divergence is reported once, then summarised for the one later block.
    later = [m for s, m in report.mismatches() if m.kind == "log_root" and m.height == height + 1]
    assert len(later) == 1
    assert "divergence at block 3" in later[0].detail
    assert all(s == shard for s, *_ in found)


async def test_a_changed_signature_names_the_block(ledger: Ledger) -> None:
    block = ledger.b[1]
    await ledger.tamper(
        "UPDATE blocks SET signature = $3 WHERE shard = $1 AND height = $2",
        block.shard, block.header.height, bytes(64),
    )  # fmt: skip
    assert _found(await ledger.audit()) == [(block.shard, "signature", 1, None)]


async def test_a_changed_tile_hash_names_the_block_and_event(ledger: Ledger) -> None:
    block = ledger.a[1]  # leaves [5, 305): completes level-0 tile 0, writing it full
    await ledger.tamper(
        "UPDATE merkle_tiles SET hashes = overlay(hashes PLACING $2 FROM 32 * 9 + 1) "
        "WHERE shard = $1 AND tile_level = 0 AND tile_index = 0 AND width = 256",
        block.shard, bytes(32),
    )  # fmt: skip
    event = block.events[9 - 5]
    assert _found(await ledger.audit()) == [(block.shard, "tile", 1, uuid.UUID(event.event_id))]


async def test_a_changed_prev_block_hash_names_the_block(ledger: Ledger) -> None:
    block = ledger.a[2]
    await ledger.tamper(
        "UPDATE blocks SET prev_block_hash = $3 WHERE shard = $1 AND height = $2",
        block.shard, 2, bytes(range(32)),
    )  # fmt: skip
    report = await ledger.audit()
    assert _found(report) == [(block.shard, "header_columns", 2, None)]
    assert "prev_block_hash" in report.mismatches()[0][1].detail


async def test_a_deleted_event_is_named_by_its_lineage(ledger: Ledger) -> None:
    block = ledger.a[4]
    event = block.events[0]
    await ledger.tamper("DELETE FROM events WHERE event_id = $1", event.event_id)
    report = await ledger.audit()
    found = _found(report)
    height = block.header.height
    assert (block.shard, "event_missing", height, None) in found
    assert (block.shard, "event_orphan", height, uuid.UUID(event.event_id)) in found
    missing = next(m for _, m in report.mismatches() if m.kind == "event_missing")
    assert missing.leaf_index == block.header.first_leaf_index
    # The first event was the earliest of its block: the block's min_event_time no longer matches either.
    assert {kind for _, kind, *_ in found} == {
        "event_missing",
        "event_orphan",
        "batch_root",
        "log_root",
        "tile",
        "event_times",
    }
    assert report.shards[0].events == sum(SIZES_A) - 1


async def test_a_deleted_block_breaks_the_chain(ledger: Ledger) -> None:
    block = ledger.b[1]
    await ledger.tamper("DELETE FROM blocks WHERE shard = $1 AND height = 1", block.shard)
    found = _found(await ledger.audit())
    assert (block.shard, "chain", 2, None) in found
    assert (block.shard, "checkpoint", 1, None) in found  # its note now names a block that is not stored
    # The events the block covered are still there, naming a block that is gone.
    orphaned = {event_id for _, kind, height, event_id in found if kind == "event_block" and height == 2}
    assert orphaned == {uuid.UUID(event.event_id) for event in block.events}
    # Its partial tile version is no longer the one any stored block's tree size makes.
    assert (block.shard, "tile_unexpected", 2, None) in found
