"""Witness cosignatures of the stored shard checkpoints, made for real and stored as the anchorer stores them.

A cosignature is :func:`provledger.ledger.cosignature.cosignature` over the stored note's text,
so the rows are what a witness would have returned; the keyword arguments let a test store a
row that lies (another checkpoint's line, another key's name, a changed byte, a wrong time).
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from provledger.ledger.cosignature import cosignature, cosigner
from provledger.ledger.keys import SigningKey
from provledger.ledger.note import parse_note

#: The cosignature time of every row unless a test says otherwise (2026-12-01T00:00:00Z).
BASE_TIME = 1796083200


def witness(name: str) -> SigningKey:
    """A witness key named ``name`` (fresh each call)."""
    return SigningKey.generate(name)


def witness_key_string(key: SigningKey) -> str:
    """The witness's C2SP verifier key (type 0x04), as ``checkpoint_cosignatures.witness_key`` holds it."""
    return cosigner(key).verifier_key_string()


async def stored_note(conn: asyncpg.Connection, shard: int, tree_size: int) -> str:
    """The sealer's signed checkpoint note of ``shard`` at ``tree_size``."""
    note: str | None = await conn.fetchval(
        "SELECT note FROM shard_checkpoints WHERE shard = $1 AND tree_size = $2", shard, tree_size
    )
    assert note is not None, f"shard {shard} has no checkpoint at size {tree_size}"
    return note


def cosignature_line(note: str, key: SigningKey, timestamp: int) -> str:
    """``key``'s cosignature line of the checkpoint note ``note`` at ``timestamp``, without its newline."""
    return cosignature(parse_note(note).text, key, timestamp).line().rstrip("\n")


async def store_cosignature(
    conn: asyncpg.Connection,
    shard: int,
    tree_size: int,
    key: SigningKey,
    timestamp: int = BASE_TIME,
    *,
    line: str | None = None,
    witness_key: str | None = None,
    cosigned_at: datetime | None = None,
) -> str:
    """Cosign the stored checkpoint ``(shard, tree_size)`` with ``key`` and store the row; returns its line.

    ``line``, ``witness_key`` and ``cosigned_at`` replace what an honest anchorer would store.
    """
    if line is None:
        line = cosignature_line(await stored_note(conn, shard, tree_size), key, timestamp)
    await conn.execute(
        "INSERT INTO checkpoint_cosignatures (shard, tree_size, witness_key, cosignature, cosigned_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        shard,
        tree_size,
        witness_key or witness_key_string(key),
        line,
        cosigned_at or datetime.fromtimestamp(timestamp, UTC),
    )
    return line


async def checkpoint_sizes(conn: asyncpg.Connection, shard: int) -> list[int]:
    """The tree sizes of the shard's stored checkpoints, smallest first."""
    query = "SELECT tree_size FROM shard_checkpoints WHERE shard = $1 ORDER BY tree_size"
    rows = await conn.fetch(query, shard)
    return [row["tree_size"] for row in rows]
