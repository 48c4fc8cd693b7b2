"""The evm kind's signed transactions in Postgres: stored before they are sent, read back to resend.

One function per query; rows become :class:`StoredTransaction`, which checks its shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from provledger.errors import VerificationError
from provledger.store.db import Conn


class NonceTaken(VerificationError):
    """Another transaction of this submitter on this chain is stored under the nonce: this one is stale."""


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    """A signed anchor transaction of statement ``seq``: its nonce, hash and exact bytes."""

    seq: int
    chain_id: int
    submitter: bytes
    nonce: int
    tx_hash: bytes
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.submitter) != 20 or len(self.tx_hash) != 32 or not self.raw:
            raise VerificationError(f"evm transaction row of statement {self.seq} is malformed")


async def insert_transaction(conn: Conn, tx: StoredTransaction) -> None:
    """Store ``tx`` before it is sent; :class:`NonceTaken` if its nonce already has a transaction."""
    try:
        await conn.execute(
            "INSERT INTO evm_transactions (seq, chain_id, submitter, nonce, tx_hash, raw_transaction) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            tx.seq,
            tx.chain_id,
            tx.submitter,
            tx.nonce,
            tx.tx_hash,
            tx.raw,
        )
    except asyncpg.UniqueViolationError as exc:
        raise NonceTaken(f"nonce {tx.nonce} of 0x{tx.submitter.hex()} has a stored transaction") from exc


async def latest_transaction(
    conn: Conn, seq: int, chain_id: int, submitter: bytes
) -> StoredTransaction | None:
    """The newest transaction stored for statement ``seq`` by ``submitter`` on ``chain_id``, if any."""
    row = await conn.fetchrow(
        "SELECT seq, chain_id, submitter, nonce, tx_hash, raw_transaction FROM evm_transactions "
        "WHERE seq = $1 AND chain_id = $2 AND submitter = $3 ORDER BY nonce DESC LIMIT 1",
        seq,
        chain_id,
        submitter,
    )
    if row is None:
        return None
    return StoredTransaction(
        row["seq"], row["chain_id"], bytes(row["submitter"]), row["nonce"], bytes(row["tx_hash"]),
        bytes(row["raw_transaction"]),
    )  # fmt: skip


async def next_nonce(conn: Conn, chain_id: int, submitter: bytes) -> int:
    """One past the highest nonce stored for ``submitter`` on ``chain_id`` (0 before the first)."""
    found: int = await conn.fetchval(
        "SELECT coalesce(max(nonce) + 1, 0) FROM evm_transactions WHERE chain_id = $1 AND submitter = $2",
        chain_id,
        submitter,
    )
    return found


async def in_flight(conn: Conn, kind: str, chain_id: int, submitter: bytes, up_to: int) -> list[int]:
    """Statements up to ``up_to`` with a transaction and no ``kind`` receipt, after the newest receipt.

    One range scan from the newest receipt on: statements before it that never got one were
    left behind as any kind leaves them (:func:`provledger.store.anchors.awaiting_receipt`).
    """
    rows = await conn.fetch(
        "SELECT DISTINCT t.seq FROM evm_transactions t "
        "WHERE t.seq > coalesce((SELECT max(seq) FROM anchor_receipts WHERE kind = $1), 0) AND t.seq <= $4 "
        "AND t.chain_id = $2 AND t.submitter = $3 "
        "AND NOT EXISTS (SELECT 1 FROM anchor_receipts r WHERE r.seq = t.seq AND r.kind = $1) ORDER BY t.seq",
        kind,
        chain_id,
        submitter,
        up_to,
    )
    return [row["seq"] for row in rows]
