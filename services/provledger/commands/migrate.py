"""``provledger migrate``: apply pending migrations to PROVLEDGER_DATABASE_URL and say which ran."""

from __future__ import annotations

import asyncio

from rich.console import Console

from provledger import logs
from provledger.config import DatabaseSettings, load
from provledger.store.migrate import migrate_database


def migrate_command() -> int:
    """Apply what is pending (safe to run twice or concurrently); exit code 0."""
    settings = load(DatabaseSettings)
    logs.configure(settings.log_level, settings.log_format)
    applied = asyncio.run(migrate_database(settings.require_database_url()))
    console = Console()
    if applied:
        for migration in applied:
            console.print(f"applied {migration.version:04d}_{migration.name}.sql")
    else:
        console.print("database schema is up to date; nothing to apply")
    return 0
