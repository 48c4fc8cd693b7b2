"""The anchorer's tables: statements numbered once, receipts stored once, all append-only."""

from __future__ import annotations

import asyncpg
import pytest
from tests.helpers.sealed_ledger import connected, register, seal_blocks

from provledger.errors import ConfigurationError
from provledger.ledger.checkpoint import heads_checkpoint
from provledger.ledger.keys import SigningKey
from provledger.store import anchors
from provledger.store.anchors import AnchoredHead, StatementTaken

SEALER = SigningKey.generate("store.test/sealer")


async def _store(conn: asyncpg.Connection, seq: int) -> list[AnchoredHead]:
    heads = [
        AnchoredHead(b.shard, b.height, b.tree_size, b.log_root, b.block_hash)
        for b in await anchors.newest_blocks(conn)
    ]
    checkpoint = heads_checkpoint("store.test/ledger", [h.head() for h in heads])
    await anchors.insert_statement(conn, seq, checkpoint, checkpoint.to_text() + "\n— x AAAA\n", heads)
    return heads


async def test_statements_heads_and_receipts_round_trip(database_url: str) -> None:
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        await seal_blocks(conn, 0, [2, 3], SEALER)
        await seal_blocks(conn, 1, [1], SEALER)
        first = await _store(conn, 1)
        assert [(h.shard, h.height) for h in first] == [(0, 1), (1, 0)]
        await seal_blocks(conn, 0, [4], SEALER)
        await _store(conn, 2)
        with pytest.raises(StatementTaken, match="another anchorer"):
            await _store(conn, 2)
        latest = await anchors.latest_statement(conn)
        assert latest is not None
        assert (latest.seq, [h.height for h in latest.heads]) == (2, [2, 0])
        assert [s.seq for s in await anchors.statements_after(conn, 0, 10)] == [1, 2]
        assert [s.seq for s in await anchors.statements_page(conn, None, 10)] == [2, 1]
        assert await anchors.earliest_covering(conn, 0, 0) == 1
        assert await anchors.earliest_covering(conn, 0, 2) == 2
        assert await anchors.earliest_covering(conn, 0, 3) is None
        assert await anchors.earliest_covering(conn, 1, 0) == 1
        assert [s.seq for s in await anchors.awaiting_receipt(conn, "k", 2, 10)] == [2]
        assert await anchors.insert_receipt(conn, 2, "k", {"a": 1})
        assert not await anchors.insert_receipt(conn, 2, "k", {"a": 2})
        assert await anchors.receipts(conn, 2) == {"k": {"a": 1}}
        assert await anchors.awaiting_receipt(conn, "k", 2, 10) == []


async def test_anchor_tables_are_append_only(database_url: str) -> None:
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        await seal_blocks(conn, 0, [2], SEALER)
        await _store(conn, 1)
        await anchors.insert_receipt(conn, 1, "k", {})
        for statement in [
            "UPDATE checkpoints SET note = 'forged'",
            "DELETE FROM checkpoint_heads",
            "DELETE FROM anchor_receipts",
            "TRUNCATE anchorer_keys CASCADE",
        ]:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)


async def test_the_anchorer_key_must_not_be_the_sealers(database_url: str) -> None:
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        with pytest.raises(ConfigurationError, match="its own key"):
            await anchors.register_anchorer_key(conn, SigningKey.from_pem(SEALER.to_pem(), "other").verifier)
        anchorer = SigningKey.generate("store.test/anchorer")
        await anchors.register_anchorer_key(conn, anchorer.verifier)
        await anchors.register_anchorer_key(conn, anchorer.verifier)
        assert await conn.fetchval("SELECT count(*) FROM anchorer_keys") == 1
