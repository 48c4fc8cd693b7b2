"""Signing keys in Postgres: public halves only, in succession by ``valid_from``.

Private keys never enter the database (ARCHITECTURE.md section 5). A key signs blocks sealed
from its ``valid_from`` until the next key's ``valid_from``; the API serves this set with its
ranges and evidence bundles carry it.
"""

from __future__ import annotations

from datetime import datetime

from provledger.ledger.keys import KeySet, TrustedKey, VerifierKey
from provledger.store.db import Conn
from provledger.store.records import from_micros


async def register_key(conn: Conn, verifier: VerifierKey, valid_from: int) -> bool:
    """Record ``verifier`` as valid from ``valid_from`` (microseconds); False if already known."""
    status: str = await conn.execute(
        "INSERT INTO signing_keys (key_id, name, public_key, verifier_key, valid_from) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        verifier.key_id,
        verifier.name,
        verifier.public_key,
        verifier.verifier_key_string(),
        from_micros(valid_from),
    )
    return status == "INSERT 0 1"


def _micros(moment: datetime) -> int:
    delta = moment - from_micros(0)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


async def load_keyset(conn: Conn) -> KeySet:
    """Every registered key with its validity range ``[valid_from, next key's valid_from)``."""
    rows = await conn.fetch(
        "SELECT verifier_key, valid_from, lead(valid_from) OVER (ORDER BY valid_from) AS valid_until "
        "FROM signing_keys ORDER BY valid_from"
    )
    return KeySet(
        tuple(
            TrustedKey(
                VerifierKey.parse(row["verifier_key"]),
                _micros(row["valid_from"]),
                None if row["valid_until"] is None else _micros(row["valid_until"]),
            )
            for row in rows
        )
    )
