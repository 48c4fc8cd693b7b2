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

Rotation is safe while old sealers still run. :func:`rotate_key` holds the rotation lock
exclusively; every block write holds it shared (:func:`block_key_held`) from the check that
its header verifies under the key registered for its ``sealed_at`` until it commits. So a
rotation either sees the block (and refuses a point at or before it) or commits first (and
the block's check fails: its sealer stands down). No block can be signed by a key whose range
ended before it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from provledger.errors import ConfigurationError, VerificationError
from provledger.events.model import time_from_micros
from provledger.ledger.block import BlockHeader, verify_header_signature
from provledger.ledger.keys import KeySet, TrustedKey, VerifierKey
from provledger.store.db import Conn

_MICROS = "(extract(epoch FROM {0}) * 1000000)::bigint"
#: The advisory lock a rotation holds exclusively and each block write holds shared.
ROTATION_LOCK = "provledger.keys.rotate"


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
    return KeySet(await registered_keys(conn))


async def registered_keys(conn: Conn) -> tuple[TrustedKey, ...]:
    """The registered keys in succession, with their ranges; empty before the first registration."""
    rows = await conn.fetch(
        f"SELECT verifier_key, {_MICROS.format('valid_from')} AS valid_from, "
        f"{_MICROS.format('lead(valid_from) OVER (ORDER BY valid_from)')} AS valid_until "
        "FROM signing_keys ORDER BY valid_from"
    )
    return tuple(
        TrustedKey(VerifierKey.parse(row["verifier_key"]), row["valid_from"], row["valid_until"])
        for row in rows
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


async def rotate_key(conn: Conn, verifier: VerifierKey, valid_from: int | None) -> Rotation:
    """Append ``verifier`` as the signing key from ``valid_from`` on, or refuse with the reason.

    Refused when the key is already registered, when ``valid_from`` is not after the newest
    key's, and when any block was sealed at or after it (its signature would stop verifying).
    Reads and insert share one transaction holding the rotation's advisory lock, so two
    rotations cannot interleave. ``None`` is "now", read once the lock is held: no block is
    being written then (:func:`block_key_held`), so running sealers cannot have sealed past it.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", ROTATION_LOCK)
        if valid_from is None:
            valid_from = time.time_ns() // 1000
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
                "its signature by the old key would stop verifying. A running sealer may have sealed it "
                "meanwhile: rotate again with --now, or from the next height of the newest block."
            )
        await register_key(conn, verifier, valid_from)
    retired = None if newest is None else VerifierKey.parse(newest["verifier_key"])
    return Rotation(TrustedKey(verifier, valid_from), retired)


async def register_first_key(conn: Conn, verifier: VerifierKey, at: int) -> Rotation | None:
    """Register ``verifier`` from ``at`` on when the ledger has no key yet; None when it is current already.

    This is how ``provledger up`` installs its sealer's key before starting the sealer. It goes
    through :func:`rotate_key` (its lock and its checks) and never replaces another key: when the
    ledger already trusts another key now, handing signing over is a rotation, which only
    ``provledger keys rotate`` does, so this raises :class:`ConfigurationError` naming it.
    """
    keys = await registered_keys(conn)
    if any(k.verifier == verifier and k.valid_at(at) for k in keys):
        return None
    if keys:
        raise _not_trusted(verifier, keys, at)
    return await rotate_key(conn, verifier, at)


async def check_signing_key(conn: Conn, verifier: VerifierKey, at: int) -> TrustedKey:
    """The registered range of ``verifier`` if the ledger trusts it at ``at``, else refuse.

    A sealer calls this at start and never registers its key: an implicit rotation from "now"
    would skip the rotation lock and the check for blocks sealed after that time, so a replica
    still running the old key would go on signing blocks that no longer verify. Raises
    :class:`ConfigurationError`, naming ``provledger keys rotate``, when the key is unknown,
    retired, not valid yet, or registered under another name.
    """
    keys = await registered_keys(conn)
    for trusted in keys:
        if trusted.verifier == verifier and trusted.valid_at(at):
            return trusted
    raise _not_trusted(verifier, keys, at)


def _not_trusted(verifier: VerifierKey, keys: tuple[TrustedKey, ...], at: int) -> ConfigurationError:
    current = ", ".join(k.describe() for k in keys if k.valid_at(at)) or "none (no key is registered)"
    known = next((k for k in keys if k.verifier == verifier), None)
    if known is None:
        why = "is not registered (or is registered under another name)"
    elif known.valid_until is not None and at >= known.valid_until:
        why = "was rotated out (retired by a rotation)"
    else:
        why = "is not valid yet"
    return ConfigurationError(
        f"signing key {verifier.verifier_key_string()} {why}: the ledger's signing key now is {current}. "
        "A sealer never registers or rotates keys itself. Register the key with "
        "`provledger keys rotate --key-file FILE --now` (or --from-height H), or start the sealer "
        "with the current key file and PROVLEDGER_SIGNING_KEY_NAME as it was registered."
    )


@contextlib.asynccontextmanager
async def block_key_held(conn: Conn, header: BlockHeader, signature: bytes) -> AsyncIterator[None]:
    """Around a block's write: no rotation commits meanwhile, and the block verifies under the ledger's keys.

    Takes the rotation lock shared (session-level, so it spans the write's own transaction, and
    released after it commits or fails), then checks the signature under the key registered for
    the header's ``sealed_at``. Raises :class:`ConfigurationError` when that is not this block's
    key: a rotation elsewhere retired it, and its sealer must stand down instead of signing blocks
    that fail verification. One query and one signature check per block.
    """
    await conn.execute("SELECT pg_advisory_lock_shared(hashtext($1))", ROTATION_LOCK)
    try:
        row = await conn.fetchrow(
            f"SELECT verifier_key, {_MICROS.format('valid_from')} AS valid_from FROM signing_keys "
            "WHERE valid_from <= $1 ORDER BY valid_from DESC LIMIT 1",
            time_from_micros(header.sealed_at),
        )
        at = time_from_micros(header.sealed_at).isoformat()
        if row is None:
            raise ConfigurationError(
                f"no signing key is registered for blocks sealed at {at}: register one with "
                "`provledger keys rotate`"
            )
        registered = TrustedKey(VerifierKey.parse(row["verifier_key"]), row["valid_from"])
        try:
            verify_header_signature(header, signature, KeySet((registered,)))
        except VerificationError as exc:
            raise ConfigurationError(
                f"block {header.shard}/{header.height} sealed at {at} would not verify: the ledger's "
                f"key from {time_from_micros(registered.valid_from).isoformat()} on is "
                f"{registered.verifier.verifier_key_string()} (`provledger keys rotate` retired this "
                f"sealer's key). The sealer stops; restart it with the new key file ({exc})"
            ) from exc
        yield
    finally:
        # A broken connection has lost the lock with its session; the pool's reset unlocks the rest.
        with contextlib.suppress(Exception):
            await conn.execute("SELECT pg_advisory_unlock_shared(hashtext($1))", ROTATION_LOCK)
