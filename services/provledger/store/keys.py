"""Signing keys in Postgres: public halves only, in succession by ``valid_from``.

Private keys never enter the database (ARCHITECTURE.md section 5). A key signs blocks sealed
from its ``valid_from`` until the next key's ``valid_from``; the API serves this set with its
ranges and evidence bundles carry it.

Rotation appends the next key with a later ``valid_from``, the *rotation point*: blocks sealed
before it verify under the old key, blocks sealed from it on only under the new one. Time, not
height, because one key signs every shard (:mod:`provledger.ledger.keys`). A rotation point at
or before a block already sealed would turn that block's valid signature invalid, so
:func:`rotate_key` refuses it: old blocks always stay verifiable. ``provledger keys rotate
--from-height H`` puts the point one microsecond after block ``H - 1`` of a shard was sealed,
so the new key takes over exactly from block ``H`` on; ``--now`` puts it at the current time.
"""

from __future__ import annotations

from dataclasses import dataclass

from provledger.errors import ConfigurationError
from provledger.events.model import time_from_micros
from provledger.ledger.keys import KeySet, TrustedKey, VerifierKey
from provledger.store.db import Conn

_MICROS = "(extract(epoch FROM {0}) * 1000000)::bigint"


async def register_key(conn: Conn, verifier: VerifierKey, valid_from: int) -> bool:
    """Record ``verifier`` as valid from ``valid_from`` (microseconds); False if already known."""
    status: str = await conn.execute(
        "INSERT INTO signing_keys (key_id, name, public_key, verifier_key, valid_from) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        verifier.key_id,
        verifier.name,
        verifier.public_key,
        verifier.verifier_key_string(),
        time_from_micros(valid_from),
    )
    return status == "INSERT 0 1"


async def load_keyset(conn: Conn) -> KeySet:
    """Every registered key with its validity range ``[valid_from, next key's valid_from)``."""
    rows = await conn.fetch(
        f"SELECT verifier_key, {_MICROS.format('valid_from')} AS valid_from, "
        f"{_MICROS.format('lead(valid_from) OVER (ORDER BY valid_from)')} AS valid_until "
        "FROM signing_keys ORDER BY valid_from"
    )
    return KeySet(
        tuple(
            TrustedKey(VerifierKey.parse(row["verifier_key"]), row["valid_from"], row["valid_until"])
            for row in rows
        )
    )


@dataclass(frozen=True, slots=True)
class Rotation:
    """A rotation done: the new key, from when it signs, and the key it retired (None for the first)."""

    key: TrustedKey
    retired: VerifierKey | None


async def rotation_point_at_height(conn: Conn, shard: int, height: int) -> int:
    """The rotation point that makes the new key sign block ``height`` of ``shard`` and every later block.

    One microsecond after block ``height - 1`` was sealed; block ``height`` MUST not exist yet.
    """
    if height < 1:
        raise ConfigurationError("--from-height must be at least 1: on a shard with no block yet, use --now")
    row = await conn.fetchrow(
        f"SELECT {_MICROS.format('sealed_at')} AS sealed_at, "
        "EXISTS (SELECT 1 FROM blocks WHERE shard = $1 AND height = $2 + 1) AS taken "
        "FROM blocks WHERE shard = $1 AND height = $2",
        shard,
        height - 1,
    )
    if row is None:
        raise ConfigurationError(
            f"shard {shard} has no block {height - 1}: --from-height names the next block to be sealed"
        )
    if row["taken"]:
        raise ConfigurationError(
            f"block {height} of shard {shard} is already sealed and signed by the old key; "
            "a key can only take over from a block not sealed yet"
        )
    point: int = row["sealed_at"] + 1
    return point


async def only_shard(conn: Conn) -> int:
    """The one shard of the ledger, for ``--from-height`` without ``--shard``."""
    shards = [r["shard"] for r in await conn.fetch("SELECT shard FROM shards ORDER BY shard LIMIT 2")]
    if len(shards) != 1:
        raise ConfigurationError(
            "the ledger has no shard yet: use --now"
            if not shards
            else "the ledger has several shards: say which one --from-height counts in with --shard"
        )
    only: int = shards[0]
    return only


async def rotate_key(conn: Conn, verifier: VerifierKey, valid_from: int) -> Rotation:
    """Append ``verifier`` as the signing key from ``valid_from`` on, or refuse with the reason.

    Refused when the key is already registered, when ``valid_from`` is not after the newest
    key's, and when any block was sealed at or after it (its signature would stop verifying).
    Reads and insert share one transaction holding the rotation's advisory lock, so two
    rotations cannot interleave.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('provledger.keys.rotate'))")
        known = await conn.fetchrow(
            f"SELECT verifier_key, {_MICROS.format('valid_from')} AS valid_from FROM signing_keys "
            "WHERE public_key = $1",
            verifier.public_key,
        )
        if known is not None:
            raise ConfigurationError(
                f"this key is already registered as {known['verifier_key']}, valid from "
                f"{time_from_micros(known['valid_from']).isoformat()}; generate a new key to rotate to"
            )
        newest = await conn.fetchrow(
            f"SELECT verifier_key, {_MICROS.format('valid_from')} AS valid_from FROM signing_keys "
            "ORDER BY valid_from DESC LIMIT 1"
        )
        if newest is not None and newest["valid_from"] >= valid_from:
            raise ConfigurationError(
                f"the current key {newest['verifier_key']} is valid from "
                f"{time_from_micros(newest['valid_from']).isoformat()}: the rotation point must be later"
            )
        late = await conn.fetchrow(
            f"SELECT shard, height, {_MICROS.format('sealed_at')} AS sealed_at FROM blocks "
            "WHERE sealed_at >= $1 ORDER BY sealed_at LIMIT 1",
            time_from_micros(valid_from),
        )
        if late is not None:
            raise ConfigurationError(
                f"block {late['height']} of shard {late['shard']} was sealed at "
                f"{time_from_micros(late['sealed_at']).isoformat()}, not before the rotation point "
                f"{time_from_micros(valid_from).isoformat()}: "
                "its signature by the old key would stop verifying. "
                "Stop every sealer, then rotate with --now or from the next height of the newest block."
            )
        await register_key(conn, verifier, valid_from)
    retired = None if newest is None else VerifierKey.parse(newest["verifier_key"])
    return Rotation(TrustedKey(verifier, valid_from), retired)


async def check_signing_key(conn: Conn, verifier: VerifierKey, at: int) -> None:
    """Refuse to sign with a key the ledger does not trust at ``at`` (a sealer starting up).

    Registers ``verifier`` from ``at`` on when the ledger has never seen it (a first start, or
    an implicit rotation); raises :class:`ConfigurationError` when it was retired by a rotation
    or is registered under another name, since every block it signed would fail the audit.
    """
    await register_key(conn, verifier, at)
    keyset = await load_keyset(conn)
    if not any(k.verifier == verifier and k.valid_at(at) for k in keyset.keys):
        current = [k.describe() for k in keyset.keys if k.valid_at(at)]
        raise ConfigurationError(
            f"signing key {verifier.verifier_key_string()} is not the ledger's signing key now "
            f"(the current one is {', '.join(current) or 'none'}): it was rotated out or is registered "
            "under another name. Start the sealer with the key file `provledger keys rotate` installed, "
            "and PROVLEDGER_SIGNING_KEY_NAME as it was given."
        )
