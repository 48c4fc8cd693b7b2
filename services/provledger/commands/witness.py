"""``provledger witness`` and ``provledger witness keys``: serve a C2SP tlog-witness, print its key."""

from __future__ import annotations

import asyncio

import typer

from provledger import logs
from provledger.config import load
from provledger.keyfiles import load_signing_key
from provledger.ledger.cosignature import cosigner
from provledger.witness.app import serve
from provledger.witness.settings import WitnessSettings
from provledger.witness.sqlite import SqliteWitnessStore


async def _check_state_file(settings: WitnessSettings) -> None:
    store = await SqliteWitnessStore.open(settings.witness_state_file)
    await store.close()


def witness_command() -> int:
    """Check the key, the logs file and the state file, then serve until stopped; the exit code."""
    settings = load(WitnessSettings)
    logs.configure(settings.log_level, settings.log_format)
    key = load_signing_key(settings.require_key_file(), settings.witness_name)
    witnessed = settings.require_logs()
    asyncio.run(_check_state_file(settings))
    return serve(settings, key, witnessed)


def keys_command() -> int:
    """Print the witness's cosignature verifier key (type 0x04), what logs and verifiers configure."""
    settings = load(WitnessSettings)
    key = load_signing_key(settings.require_key_file(), settings.witness_name)
    typer.echo(cosigner(key).verifier_key_string())
    return 0
