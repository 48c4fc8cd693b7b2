"""``provledger up`` and ``provledger migrate``: bring the local stack up, apply the schema."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.table import Table

from provledger import logs
from provledger.config import DatabaseSettings, StackSettings, load, masked
from provledger.local import LocalServers, local_servers
from provledger.store.migrate import migrate_database

_console = Console()
_log = logs.get_logger(__name__)

#: Services `up` will start as child processes once their part is built; each names its issue.
PENDING_SERVICES = {
    "sealer": "issue 5",
    "anchorer": "the anchoring issue",
    "api": "issue 6",
    "demo workload": "issue 4",
}


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _describe(servers: LocalServers, data_dir: Path) -> Table:
    table = Table(title="provledger is up", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    postgres_pid = (
        f" (pid {servers.postgres.process.pid})" if servers.postgres and servers.postgres.process else ""
    )
    kafka_pid = f" (pid {servers.kafka.process.pid})" if servers.kafka and servers.kafka.process else ""
    table.add_row("Postgres", f"{servers.database_url}  [{servers.database_source}]{postgres_pid}")
    table.add_row("Kafka", f"{servers.kafka_bootstrap}  [{servers.kafka_source}]{kafka_pid}")
    table.add_row("Data directory", str(data_dir.resolve()))
    table.add_row("Logs", str((data_dir / "logs").resolve()))
    for service, issue in PENDING_SERVICES.items():
        table.add_row(service.capitalize(), f"not built yet ({issue}); nothing started")
    table.add_row("Stop", "press Ctrl-C (or send SIGTERM); every process started here is stopped")
    return table


def run_stack(*, data_dir: Path | None, demo: bool, exit_after: float | None) -> int:
    """Start servers, migrate, start what is built, wait for Ctrl-C or ``exit_after``; stop everything."""
    settings = load(StackSettings, **({"data_dir": data_dir} if data_dir else {}))
    logs.configure(settings.log_level, "console")
    _log.info("starting local stack", settings=masked(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    _stop_on_signals(stop)
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    with (
        _console.status("starting Postgres and Kafka..."),
        local_servers(
            data_dir=settings.data_dir, database_url=database_url, kafka_bootstrap=settings.kafka_bootstrap
        ) as servers,
    ):
        applied = asyncio.run(migrate_database(servers.database_url))
        _log.info("migrations applied", applied=[f"{m.version:04d}_{m.name}" for m in applied])
        _console.status("").stop()
        _console.print(_describe(servers, settings.data_dir))
        if demo:
            _console.print("The demo workload is not built yet (issue 4); the stack runs without it.")
        _console.print("ready", style="bold green")
        deadline = None if exit_after is None else time.monotonic() + exit_after
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            stop.wait(0.2)
        _console.print("stopping...")
    _console.print("stopped: every process started by this command has exited.")
    return 0


def migrate_command() -> int:
    """Apply pending migrations to PROVLEDGER_DATABASE_URL and say which ran."""
    settings = load(DatabaseSettings)
    logs.configure(settings.log_level, settings.log_format)
    applied = asyncio.run(migrate_database(settings.require_database_url()))
    if applied:
        for migration in applied:
            _console.print(f"applied {migration.version:04d}_{migration.name}.sql")
    else:
        _console.print("database schema is up to date; nothing to apply")
    return 0
