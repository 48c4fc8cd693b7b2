"""``provledger keys generate`` and ``provledger keys rotate``: make a signing key, hand signing to it.

``rotate`` is the one way a signing key enters the ledger (a sealer never registers its own key);
:func:`register_sealer_key` lets ``provledger up`` register the first key of a new ledger through
the same locked, checked path.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from provledger.config import SealerSettings, load
from provledger.errors import ConfigurationError
from provledger.events.model import time_from_micros
from provledger.keyfiles import generate_key_file, load_signing_key
from provledger.ledger.keys import SigningKey
from provledger.sealer.core import now_micros
from provledger.store.db import create_pool
from provledger.store.keys import (
    Rotation,
    only_shard,
    register_first_key,
    rotate_key,
    rotation_point_at_height,
)


def generate_command(out: Path, name: str) -> int:
    """Write a new key file and print where it is and its public verifier key."""
    key = generate_key_file(out, name)
    typer.echo(f"wrote {out}\nverifier key: {key.verifier.verifier_key_string()}")
    return 0


def rotate_command(
    key_file: Path, name: str | None, from_height: int | None, shard: int | None, now: bool
) -> int:
    """``provledger keys rotate``: register the key in ``key_file`` as the signer from a rotation point on.

    Exactly one of ``from_height`` (with ``shard`` when the ledger has several) and ``now``
    chooses the point (see :mod:`provledger.store.keys`). Only the public key is stored.
    """
    if (from_height is None) == (not now):
        raise ConfigurationError("say where the new key takes over: either --from-height H or --now")
    if shard is not None and from_height is None:
        raise ConfigurationError("--shard only qualifies --from-height")
    settings = load(SealerSettings)
    key = load_signing_key(key_file, name or settings.signing_key_name)
    rotation = asyncio.run(_rotate(settings.require_database_url(), key, from_height, shard))
    start = time_from_micros(rotation.key.valid_from).isoformat()
    retired = rotation.retired.verifier_key_string() if rotation.retired else "none (first key)"
    echo = Console(highlight=False, soft_wrap=True).print
    echo(f"signing key {key.verifier.verifier_key_string()}\nsigns every block sealed from {start} on")
    echo(f"retired key {retired}: still verifies every block sealed before then")
    echo(
        f"Restart every sealer now with PROVLEDGER_SIGNING_KEY_FILE={key_file} and "
        f"PROVLEDGER_SIGNING_KEY_NAME={key.name}: a sealer still running the old key stops at its first "
        f"block sealed from {start} on."
    )
    return 0


async def _rotate(dsn: str, key: SigningKey, from_height: int | None, shard: int | None) -> Rotation:
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn:
            point: int | None = None  # --now: the time once the rotation holds its lock
            if from_height is not None:
                shard = await only_shard(conn) if shard is None else shard
                point = await rotation_point_at_height(conn, shard, from_height)
            return await rotate_key(conn, key.verifier, point)
    finally:
        await pool.close()


def register_sealer_key(database_url: str, key_file: Path, name: str) -> None:
    """Before ``provledger up`` starts its sealer: register its key if the ledger has none yet.

    A key already current is left as it is; a ledger that trusts another key now stops ``up``
    with a :class:`ConfigurationError` naming ``provledger keys rotate`` (no implicit rotation).
    """
    key = load_signing_key(key_file, name)
    rotation = asyncio.run(_register_first(database_url, key))
    if rotation is not None:
        Console(highlight=False, soft_wrap=True).print(
            f"Registered the sealer's signing key {key.verifier.verifier_key_string()} as the ledger's "
            f"first key, from {time_from_micros(rotation.key.valid_from).isoformat()} on."
        )


async def _register_first(dsn: str, key: SigningKey) -> Rotation | None:
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await register_first_key(conn, key.verifier, now_micros())
    finally:
        await pool.close()
