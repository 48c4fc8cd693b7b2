"""Recheck a whole ledger from its stored rows: ``provledger audit`` as a library.

Recomputes every leaf hash from the stored canonical bytes, every batch root and log root, and
every stored Merkle tile; checks each header's bytes, hash, signature (under the key valid when
it was sealed), chain link and shard checkpoint note; then every anchored statement's signature,
heads and receipts, that each shard's anchored heads only grew, and (given the checkpoints
topic's records) that the database still holds every statement that was published. Returns a
report value instead of printing, so tests and ``provledger up`` can call it::

    report = await audit_ledger(conn)
    if not report.ok:
        for shard, mismatch in report.mismatches():
            print(shard, mismatch.height, mismatch.event_id, mismatch.detail)

Pure checks live in :mod:`.shard`, :mod:`.tiles` and :mod:`.anchors`, the streaming reads in
:mod:`provledger.store.audit_reads`, the drivers in :mod:`.run` and :mod:`.anchor_run`, the text
report in :mod:`provledger.commands.audit`.
"""

from provledger.audit.report import KINDS, AuditReport, Mismatch, ShardReport
from provledger.audit.run import audit_ledger

__all__ = ["KINDS", "AuditReport", "Mismatch", "ShardReport", "audit_ledger"]
