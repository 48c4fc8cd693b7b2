"""The anchors' audit against real Postgres, the broker and real rfc3161 receipts from the local TSA.

A ledger is sealed and anchored twice by the real anchorer; then rows are changed behind the
append-only triggers' back (as the database owner can) and the audit must name each change by
statement and shard. The command-line run and the restored-dump fork are in
``test_anchorer_service.py``.
"""

from __future__ import annotations

import pytest
from tests.helpers.anchoring import ANCHORER, ORIGIN, anchorer
from tests.helpers.sealed_ledger import connected, register, seal_blocks

from provledger.anchor.rfc3161 import make_kind
from provledger.anchor.topic import CheckpointTopic
from provledger.audit.report import AuditReport
from provledger.audit.run import audit_ledger
from provledger.commands.audit import receipt_checks
from provledger.config import KafkaSettings
from provledger.ledger.checkpoint import heads_checkpoint, sign_checkpoint
from provledger.ledger.keys import KeySet, SigningKey
from provledger.local.tsa import LocalTsa
from provledger.store import anchors

SEALER = SigningKey.generate("anchor-audit.test/sealer")


@pytest.fixture
async def anchored(database_url: str, kafka_settings: KafkaSettings, local_tsa_server: LocalTsa) -> str:
    """Two shards; statement 1 anchors shard 0 at height 1, statement 2 at height 2; both timestamped."""
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        await seal_blocks(conn, 0, [2, 3], SEALER)
        await seal_blocks(conn, 1, [1], SEALER)
    tsa = make_kind(tsa_urls=local_tsa_server.url, tsa_roots_file=local_tsa_server.roots_file)
    async with anchorer(database_url, kafka_settings, [tsa]) as a:
        await a.tick()
        async with connected(database_url) as conn:
            await seal_blocks(conn, 0, [4], SEALER)
        await a.tick()
    return database_url


async def _audit(
    database_url: str,
    roots: LocalTsa | None = None,
    *,
    trusted: KeySet | None = None,
    kafka: KafkaSettings | None = None,
) -> AuditReport:
    checks = receipt_checks(None if roots is None else roots.roots_file)
    async with connected(database_url) as conn:
        if kafka is None:
            return await audit_ledger(conn, receipt_checks=checks, trusted_keys=trusted)
        topic = CheckpointTopic(kafka.require_kafka_bootstrap(), kafka.topic_checkpoints, "audit-test")
        async with topic.history() as published:
            return await audit_ledger(conn, receipt_checks=checks, trusted_keys=trusted, published=published)


def _named(report: AuditReport) -> set[tuple[str, int | None, int | None]]:
    assert report.anchors is not None
    return {(m.kind, m.seq, m.shard) for m in report.anchors.mismatches}


async def test_an_anchored_ledger_audits_clean_with_every_receipt_checked(
    anchored: str, kafka_settings: KafkaSettings, local_tsa_server: LocalTsa
) -> None:
    report = await _audit(anchored, local_tsa_server, kafka=kafka_settings)
    assert report.ok, report.to_json()
    assert report.anchors is not None
    assert (report.anchors.statements, report.anchors.published) == (2, 2)
    assert report.anchors.receipts_checked == {"rfc3161": 2}
    # Without the TSA's roots nothing checks the tokens: unchecked, never passed.
    unchecked = (await _audit(anchored)).anchors
    assert unchecked is not None
    assert (unchecked.receipts_checked, unchecked.receipts_unchecked) == ({}, {"rfc3161": 2})
    assert unchecked.published is None


async def test_changed_receipts_heads_and_a_sealer_signed_statement_are_named(
    anchored: str, local_tsa_server: LocalTsa
) -> None:
    async with connected(anchored) as conn:
        heads = (await anchors.statement(conn, 2) or pytest.fail("no statement 2")).heads
        forged = heads_checkpoint(ORIGIN, [h.head() for h in heads])
        await anchors.insert_statement(conn, 3, forged, sign_checkpoint(forged, [SEALER]), heads)
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            # Statement 1's receipt now holds statement 2's token: a real token over another text.
            await conn.execute(
                "UPDATE anchor_receipts SET receipt = jsonb_set(receipt, '{responses}', "
                "(SELECT receipt -> 'responses' FROM anchor_receipts WHERE seq = 2)) WHERE seq = 1"
            )
            # Statement 2's stored head for shard 0 goes back to block 0.
            await conn.execute(
                "UPDATE checkpoint_heads SET height = 0 WHERE seq = 2 AND shard = 0",
            )
    report = await _audit(anchored, local_tsa_server)
    assert not report.ok
    assert all(shard.ok for shard in report.shards), "the blocks themselves were not touched"
    assert _named(report) >= {
        ("receipt", 1, None),
        ("statement_heads", 2, 0),
        ("anchored_block", 2, 0),
        ("anchored_fork", 2, 0),
        ("statement_sealer_key", 3, None),
        ("statement_signature", 3, None),
    }
    assert not {shard for _, _, shard in _named(report)} - {None, 0}, "only shard 0 was changed"


async def test_the_users_trusted_keys_decide_who_may_sign_statements(anchored: str) -> None:
    # Trusting only the sealer's key: it signs blocks, so it may not sign statements; nothing verifies them.
    sealer_only = await _audit(anchored, trusted=KeySet.of([SEALER.verifier]))
    assert all(shard.ok for shard in sealer_only.shards)
    assert _named(sealer_only) == {("statement_signature", 1, None), ("statement_signature", 2, None)}
    both = await _audit(anchored, trusted=KeySet.of([SEALER.verifier, ANCHORER.verifier]))
    assert both.ok, both.to_json()
