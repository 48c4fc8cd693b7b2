"""``provledger audit``: run the audit with a progress bar on stderr, print the report, set the exit code.

The text report goes to stdout (per shard: events, blocks, tree size, mismatches; then every
listed mismatch with its block height and event id; then the anchors: statements, receipts
checked and unchecked per kind, what the checkpoints topic was compared with, and every anchor
mismatch with its statement and shard); ``--json`` prints the same totals and mismatches as one
JSON document instead. Exit status 0 means every check passed, 1 that at least one mismatch was
found. A receipt nobody could check (``rfc3161`` without ``--tsa-roots``) is reported as
unchecked: it neither passes nor fails.

Keys: with ``--trusted-keys`` every block header, shard checkpoint and statement signature is
checked against the operator's keys and their validity ranges, and each key of the database's
``signing_keys`` or ``anchorer_keys`` outside them is a ``key_untrusted`` mismatch (exit 1).
Without it the report says the database's own keys were trusted (:mod:`provledger.audit.keys`
says why the flag stays optional).

With ``PROVLEDGER_KAFKA_BOOTSTRAP`` set, the checkpoints topic (``PROVLEDGER_TOPIC_CHECKPOINTS``)
is read too, and a broker that does not answer stops the audit (exit 3, as the database):
comparing with what the anchorer published is the only way to see that a database restored
from a dump forgot later statements. Without it the report says the topic was not compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from provledger.audit.anchor_run import PublishedRecords, audit_cosignatures
from provledger.audit.anchors import ReceiptCheck
from provledger.audit.cosignatures import CosignatureReport
from provledger.audit.keys import DATABASE_TRUSTED, KeyTrustReport
from provledger.audit.report import AnchorReport, AuditReport
from provledger.audit.run import audit_ledger
from provledger.config import DatabaseSettings, KafkaSettings, load
from provledger.kafka_security import client_options
from provledger.ledger.cosignature import CosignatureVerifier
from provledger.ledger.keys import KeySet
from provledger.store.db import connect


def audit_command(
    json_output: bool,
    max_listed: int,
    trusted_keys: Path | None = None,
    tsa_roots: Path | None = None,
    witness_policy: Path | None = None,
) -> int:
    """Audit PROVLEDGER_DATABASE_URL and, with a broker set, the checkpoints topic; 0 clean, 1 a mismatch."""
    from provledger.commands.verify import load_trusted_keys, load_witness_policy

    dsn = load(DatabaseSettings).require_database_url()
    keys = None if trusted_keys is None else load_trusted_keys(trusted_keys)
    trusted_witnesses = None
    if witness_policy is not None:
        trusted_witnesses = [w.verifier for w in load_witness_policy(witness_policy).witnesses]
    checks = receipt_checks(tsa_roots)
    kafka = load(KafkaSettings)
    stderr, stdout = Console(stderr=True), Console(highlight=False, soft_wrap=True)
    with Progress(
        TextColumn("auditing {task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=stderr, transient=True,
    ) as bar:  # fmt: skip
        events = bar.add_task("events", total=None)
        statements = bar.add_task("statements", total=None)
        cosignatures = bar.add_task("cosignatures", total=None)

        def advance(task: TaskID) -> Callable[[int, int], None]:
            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return update

        progress = (advance(events), advance(statements), advance(cosignatures))
        report, witnessed = asyncio.run(
            _audit(dsn, kafka, max_listed, keys, checks, trusted_witnesses, progress)
        )
    ok = report.ok and (witnessed is None or witnessed.ok)
    if json_output:
        document = report.to_json()
        document["ok"] = ok
        if witnessed is not None:
            document["totals"]["mismatches"] += witnessed.mismatch_count
        document["cosignatures"] = None if witnessed is None else witnessed.to_json()
        stdout.print_json(json.dumps(document))
    else:
        render(report, stdout, witnessed)
    return 0 if ok else 1


def receipt_checks(tsa_roots: Path | None) -> dict[str, ReceiptCheck]:
    """The receipt kinds the audit can check: ``rfc3161`` under ``--tsa-roots``; ``evm`` always.

    An ``evm`` receipt's proof needs no roots (the header hashes to its block hash, the receipt
    trie proof holds, the log names this statement's number and digest), so it is always
    checked; whether that block is on the canonical chain is ``provledger verify --evm-rpc`` and
    ``provledger monitor``'s question, not the database's.
    """
    from provledger.anchor.evm.verify import EvmReceiptVerifier

    evm = EvmReceiptVerifier(None)
    checks: dict[str, ReceiptCheck] = {"evm": lambda receipt, seq: evm.check(receipt.data, seq)}
    if tsa_roots is not None:
        from provledger.anchor.rfc3161.verify import Rfc3161ReceiptVerifier

        rfc3161 = Rfc3161ReceiptVerifier.from_roots_file(tsa_roots)
        checks["rfc3161"] = lambda receipt, _seq: rfc3161.check(receipt)
    return checks


@contextlib.asynccontextmanager
async def _published(kafka: KafkaSettings) -> AsyncIterator[PublishedRecords | None]:
    if kafka.kafka_bootstrap is None:
        yield None
        return
    from provledger.anchor.topic import CheckpointTopic

    topic = CheckpointTopic(
        kafka.kafka_bootstrap, kafka.topic_checkpoints, kafka.kafka_client_id, client_options(kafka)
    )
    async with topic.history() as records:
        yield records


async def _audit(
    dsn: str,
    kafka: KafkaSettings,
    max_listed: int,
    keys: KeySet | None,
    checks: dict[str, ReceiptCheck],
    witnesses: Collection[CosignatureVerifier] | None,
    progress: tuple[Callable[[int, int], None], ...],
) -> tuple[AuditReport, CosignatureReport | None]:
    # The topic's end is fixed before the database snapshot opens (CheckpointTopic.history).
    events, statements, cosignatures = progress
    async with _published(kafka) as published:
        conn = await connect(dsn)
        try:
            report = await audit_ledger(
                conn, progress=events, max_listed=max_listed, trusted_keys=keys,
                receipt_checks=checks, published=published, anchor_progress=statements,
            )  # fmt: skip
            witnessed = await audit_cosignatures(
                conn, trusted=witnesses, progress=cosignatures, max_listed=max_listed
            )
            return report, witnessed
        finally:
            await conn.close()


def render(report: AuditReport, console: Console, witnessed: CosignatureReport | None = None) -> None:
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
        listed = []
        for m in s.mismatches:
            where = f"shard {s.shard} block {'-' if m.height is None else m.height}"
            if m.event_id is not None:
                where += f" event {m.event_id}"
            if m.leaf_index is not None:
                where += f" leaf {m.leaf_index}"
            listed.append((m.kind, where, m.detail))
        _print_mismatches(console, listed, s.mismatch_count, f"shard {s.shard}")
    if report.anchors is not None:
        _render_anchors(report.anchors, console)
    if report.keys is not None:
        _render_keys(report.keys, console)
    if witnessed is not None:
        _render_cosignatures(witnessed, console)
    totals = report.totals()
    summary = f"{totals['shards']} shards, {totals['blocks']} blocks, {totals['events']} events"
    if report.ok and (witnessed is None or witnessed.ok):
        console.print(f"[green]OK[/]: {summary}, every check passed")
    else:
        mismatches = totals["mismatches"] + (0 if witnessed is None else witnessed.mismatch_count)
        console.print(f"[bold red]FAILED[/]: {summary}, {mismatches} mismatches")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())) or "none"


def _render_anchors(anchors: AnchorReport, console: Console) -> None:
    """The anchors' part: totals, receipts checked and not, the topic, then each mismatch."""
    console.print(
        f"anchors: {anchors.statements} statements; receipts checked: {_counts(anchors.receipts_checked)}"
    )
    if anchors.receipts_unchecked:
        console.print(
            "receipts [yellow]unchecked[/] (neither passed nor failed): "
            f"{_counts(anchors.receipts_unchecked)}; give --tsa-roots FILE to check rfc3161 receipts"
        )
    if anchors.published is None:
        console.print(
            "checkpoints topic not compared (PROVLEDGER_KAFKA_BOOTSTRAP is not set): a database restored "
            "from a dump may have forgotten statements without this audit seeing it"
        )
    else:
        console.print(f"checkpoints topic: {anchors.published} published records compared with the database")
    listed = []
    for m in anchors.mismatches:
        where = f"statement {'-' if m.seq is None else m.seq}"
        listed.append((m.kind, where if m.shard is None else f"{where} shard {m.shard}", m.detail))
    _print_mismatches(console, listed, anchors.mismatch_count, "anchors")


def _render_keys(keys: KeyTrustReport, console: Console) -> None:
    """Whose keys the signatures were checked against, then each database key the operator's omit."""
    if keys.trusted_from == "database":
        console.print(f"[yellow]{escape(DATABASE_TRUSTED)}[/]")
        return
    console.print(
        f"keys: every block, checkpoint and statement signature checked against the {keys.trusted} "
        "keys of --trusted-keys (with their validity ranges), none of the database's"
    )
    listed = [(key.to_json()["kind"], f"{key.table} row {key.key}", key.detail) for key in keys.untrusted]
    _print_mismatches(console, listed, len(keys.untrusted), "keys")


def _render_cosignatures(witnessed: CosignatureReport, console: Console) -> None:
    """The witnesses' part: rows verified per witness key, keys the user did not list, each mismatch."""
    verified = ", ".join(f"{escape(key)} {count}" for key, count in sorted(witnessed.verified.items()))
    console.print(f"witness cosignatures: {witnessed.cosignatures} stored; verified: {verified or 'none'}")
    if witnessed.untrusted is None:
        if witnessed.cosignatures:
            console.print(
                "each cosignature was checked under the witness key its own row names: that shows the "
                "rows hold together, not that these witnesses are the ones you trust (--witness-policy FILE)"
            )
    else:
        for key, count in sorted(witnessed.untrusted.items()):
            console.print(
                f"[yellow]UNTRUSTED[/] witness key {escape(key)}: {count} rows (not in --witness-policy)"
            )
    listed = [
        (m.kind, f"shard {m.shard} size {m.tree_size} witness {m.witness_key}", m.detail)
        for m in witnessed.mismatches
    ]
    _print_mismatches(console, listed, witnessed.mismatch_count, "cosignatures")


def _print_mismatches(console: Console, listed: list[tuple[str, str, str]], count: int, label: str) -> None:
    """``MISMATCH kind: where: detail`` for each listed one, then how many more were only counted."""
    for kind, where, detail in listed:
        console.print(f"[red]MISMATCH[/] {kind}: {escape(where)}: {escape(detail)}")
    if count > len(listed):
        console.print(f"{label}: {count - len(listed)} more mismatches not listed")
