"""``provledger witness`` and ``provledger witness keys``: serve a C2SP tlog-witness, print its key."""

from __future__ import annotations

import asyncio

import typer

from provledger import logs
from provledger.config import load
from provledger.keyfiles import load_signing_key
from provledger.ledger.cosignature import cosigner
from provledger.witness.app import OpenedStore, StoreOpener, serve
from provledger.witness.postgres import PostgresWitnessStore
from provledger.witness.settings import WitnessSettings
from provledger.witness.sqlite import SqliteWitnessStore


def store_opener(settings: WitnessSettings) -> StoreOpener:
    """Postgres when ``PROVLEDGER_WITNESS_DATABASE_URL`` is set, else the SQLite state file.

    The password file is read here, at start-up, so a wrong one stops the command naming it.
    """
    database = settings.database()
    if database is None:
        path = settings.witness_state_file

        async def open_sqlite() -> OpenedStore:
            return await SqliteWitnessStore.open(path)

        return open_sqlite

    async def open_postgres() -> OpenedStore:
        return await PostgresWitnessStore.open(database)

    return open_postgres


async def _check_state(open_store: StoreOpener) -> None:
    """Open and close the state once before serving, so an unusable one stops the command, not the server."""
    store = await open_store()
    await store.close()


def witness_command() -> int:
    """Check the key, the logs file and the state, then serve until stopped; the exit code."""
    settings = load(WitnessSettings)
    logs.configure(settings.log_level, settings.log_format)
    key = load_signing_key(settings.require_key_file(), settings.witness_name)
    witnessed = settings.require_logs()
    open_store = store_opener(settings)
    asyncio.run(_check_state(open_store))
    return serve(settings, key, witnessed, open_store)


def keys_command() -> int:
    """Print the witness's cosignature verifier key (type 0x04), what logs and verifiers configure."""
    settings = load(WitnessSettings)
    key = load_signing_key(settings.require_key_file(), settings.witness_name)
    typer.echo(cosigner(key).verifier_key_string())
    return 0
