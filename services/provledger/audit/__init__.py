"""Recheck a whole ledger from its stored rows: ``provledger audit`` as a library.

Recomputes every leaf hash from the stored canonical bytes, every batch root and log root, and
every stored Merkle tile; checks each header's bytes, hash, signature (under the key valid when
it was sealed), chain link and shard checkpoint note. Returns a report value instead of printing,
so tests and ``provledger up`` can call it::

    report = await audit_ledger(conn)
    if not report.ok:
        for shard, mismatch in report.mismatches():
            print(shard, mismatch.height, mismatch.event_id, mismatch.detail)

Pure checks live in :mod:`.shard` and :mod:`.tiles`, the streaming reads in
:mod:`provledger.store.audit_reads`, the driver in :mod:`.run`, the text report in :mod:`.render`.
"""

from provledger.audit.report import KINDS, AuditReport, Mismatch, ShardReport
from provledger.audit.run import audit_ledger

__all__ = ["KINDS", "AuditReport", "Mismatch", "ShardReport", "audit_ledger"]
