"""``provledger audit``: run the audit with a progress bar on stderr, print the report, set the exit code.

The text report goes to stdout (per shard: events, blocks, tree size, mismatches; then every
listed mismatch with its block height and event id); ``--json`` prints the same totals and
mismatches as one JSON document instead. Exit status 0 means every check passed, 1 that at least
one mismatch was found.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from provledger.audit.report import AuditReport
from provledger.audit.run import audit_ledger
from provledger.config import DatabaseSettings, load
from provledger.store.db import connect


def audit_command(json_output: bool, max_listed: int) -> int:
    """Audit PROVLEDGER_DATABASE_URL; 0 when clean, 1 on any mismatch."""
    dsn = load(DatabaseSettings).require_database_url()
    stderr, stdout = Console(stderr=True), Console(highlight=False, soft_wrap=True)
    with Progress(
        TextColumn("auditing"), BarColumn(), MofNCompleteColumn(), TextColumn("events"),
        TimeRemainingColumn(), console=stderr, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("audit", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = asyncio.run(_audit(dsn, max_listed, advance))
    if json_output:
        stdout.print_json(json.dumps(report.to_json()))
    else:
        render(report, stdout)
    return 0 if report.ok else 1


async def _audit(dsn: str, max_listed: int, progress: Callable[[int, int], None]) -> AuditReport:
    conn = await connect(dsn)
    try:
        return await audit_ledger(conn, progress=progress, max_listed=max_listed)
    finally:
        await conn.close()


def render(report: AuditReport, console: Console) -> None:
    """The human report: a table of shards, then each listed mismatch, then the verdict."""
    shards = Table("shard", "source", "events", "blocks", "tree size", "mismatches", title="provledger audit")
    for s in report.shards:
        style = "" if s.ok else "bold red"
        shards.add_row(
            str(s.shard), escape(f"{s.topic}/{s.partition}"), str(s.events), str(s.blocks), str(s.tree_size),
            str(s.mismatch_count), style=style,
        )  # fmt: skip
    console.print(shards)
    if not report.checkpoints_checked:
        console.print("shard checkpoint notes not checked: this database has no shard_checkpoints table")
    for s in report.shards:
        for m in s.mismatches:
            where = f"shard {s.shard} block {'-' if m.height is None else m.height}"
            if m.event_id is not None:
                where += f" event {m.event_id}"
            if m.leaf_index is not None:
                where += f" leaf {m.leaf_index}"
            console.print(f"[red]MISMATCH[/] {m.kind}: {where}: {escape(m.detail)}")
        if s.mismatch_count > len(s.mismatches):
            console.print(
                f"shard {s.shard}: {s.mismatch_count - len(s.mismatches)} more mismatches not listed"
            )
    totals = report.totals()
    summary = f"{totals['shards']} shards, {totals['blocks']} blocks, {totals['events']} events"
    if report.ok:
        console.print(f"[green]OK[/]: {summary}, every check passed")
    else:
        console.print(f"[bold red]FAILED[/]: {summary}, {totals['mismatches']} mismatches")
