"""The pure anchors' audit on statements built in memory: signed notes, heads, receipts, published records.

Trees come from the slow RFC 9162 reference (``tests/helpers/rfc9162_reference.py``), not from
the code under test, so a consistency proof that passes here passes by the RFC's definition.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

from tests.helpers import rfc9162_reference as ref

from provledger.audit.anchors import AnchorAudit
from provledger.audit.report import AnchorReport, AuditReport
from provledger.errors import VerificationError
from provledger.ledger.checkpoint import heads_checkpoint, sign_checkpoint
from provledger.ledger.evidence import Receipt
from provledger.ledger.keys import SigningKey
from provledger.store.audit_reads import AuditedStatement, BlockRef, StoredHead, StoredReceipt

SEALER = SigningKey.generate("unit.test/sealer")
ANCHORER = SigningKey.generate("unit.test/anchorer")
ORIGIN = "unit.test/ledger"
LEAVES = ref.leaves(40)


def _head(shard: int, height: int, size: int) -> StoredHead:
    """Block ``height`` of ``shard``, whose log holds the first ``size`` reference leaves."""
    block_hash = hashlib.sha256(f"{shard}/{height}/{size}".encode()).digest()
    root = ref.mth(LEAVES[:size])
    return StoredHead(shard, height, size, root, block_hash, BlockRef(block_hash, size, root))


def _statement(
    seq: int,
    heads: Sequence[StoredHead],
    *,
    key: SigningKey = ANCHORER,
    receipts: Sequence[StoredReceipt] = (),
    stated: Sequence[StoredHead] | None = None,
) -> AuditedStatement:
    """Statement ``seq`` over ``heads`` signed by ``key``; its note names ``stated`` when given."""
    checkpoint = heads_checkpoint(ORIGIN, [h.head() for h in (heads if stated is None else stated)])
    note = sign_checkpoint(checkpoint, [key])
    return AuditedStatement(
        seq, ORIGIN, checkpoint.size, checkpoint.root, note, tuple(heads), tuple(receipts)
    )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _receipt(note: str) -> StoredReceipt:
    return StoredReceipt("rfc3161", {"statement": note, "responses": ["AAAA"]})


def _audit(**kwargs: Any) -> AnchorAudit:
    return AnchorAudit([ANCHORER.verifier], [SEALER.verifier], kwargs.pop("checkers", {}), 100, **kwargs)


def _run(audit: AnchorAudit, statements: Sequence[AuditedStatement]) -> AnchorReport:
    """Feed statements, answering each consistency check with the reference proof."""
    for statement in statements:
        for check in audit.add_statement(statement):
            audit.check_consistency(check, ref.proof(check.old.tree_size, LEAVES[: check.new.tree_size]))
    return audit.report()


def _kinds(report: AnchorReport) -> list[tuple[str, int | None, int | None]]:
    return [(m.kind, m.seq, m.shard) for m in report.mismatches]


def test_a_growing_sequence_of_statements_checks_out_with_consistency_proofs() -> None:
    audit = _audit()
    first = _statement(1, [_head(0, 0, 3), _head(1, 0, 5)])
    second = _statement(2, [_head(0, 2, 11), _head(1, 0, 5)])
    assert audit.add_statement(first) == []
    checks = audit.add_statement(second)
    assert [(c.seq, c.old_seq, c.shard, c.old.tree_size, c.new.tree_size) for c in checks] == [
        (2, 1, 0, 3, 11)
    ]
    audit.check_consistency(checks[0], ref.proof(3, LEAVES[:11]))
    report = audit.report()
    assert report.ok, report.mismatches
    assert report.statements == 2


def test_heads_that_differ_from_the_signed_note_are_named_by_shard() -> None:
    stored = [_head(0, 1, 4), _head(1, 0, 5)]
    report = _run(_audit(), [_statement(1, stored, stated=[_head(0, 2, 9), _head(1, 0, 5)])])
    assert _kinds(report) == [("statement_heads", 1, 0)]
    assert report.mismatches[0].detail.startswith("the signed note names height 2 hash ")
    assert "its checkpoint_heads row height 1 hash " in report.mismatches[0].detail


def test_a_row_whose_root_differs_from_the_signed_text_is_named() -> None:
    statement = dataclasses.replace(_statement(1, [_head(0, 0, 3)]), root=bytes(32))
    assert _kinds(_run(_audit(), [statement])) == [("statement_text", 1, None)]


def test_a_head_that_went_down_names_the_shard_both_heights_and_roots() -> None:
    high, low = _head(0, 3, 20), _head(0, 1, 7)
    report = _run(_audit(), [_statement(1, [high]), _statement(2, [low])])
    assert _kinds(report) == [("anchored_fork", 2, 0)]
    detail = report.mismatches[0].detail
    for named in ("went down", "height 3", "height 1", _b64(high.log_root), _b64(low.log_root)):
        assert named in detail


def test_another_block_at_an_anchored_height_and_a_vanished_shard_are_forks() -> None:
    other = dataclasses.replace(_head(0, 1, 7), block_hash=b"\x07" * 32)
    other = dataclasses.replace(other, block=BlockRef(other.block_hash, 7, other.log_root))
    report = _run(_audit(), [_statement(1, [_head(0, 1, 7), _head(1, 0, 2)]), _statement(2, [other])])
    assert _kinds(report) == [("anchored_fork", 2, 1), ("anchored_fork", 2, 0)]


def test_a_later_head_that_does_not_extend_the_earlier_fails_its_consistency_proof() -> None:
    forked = dataclasses.replace(_head(0, 2, 12), log_root=ref.mth(ref.leaves(12, salt=1)))
    forked = dataclasses.replace(forked, block=BlockRef(forked.block_hash, 12, forked.log_root))
    report = _run(_audit(), [_statement(1, [_head(0, 1, 5)]), _statement(2, [forked])])
    assert _kinds(report) == [("anchored_fork", 2, 0)]
    assert "does not extend" in report.mismatches[0].detail


def test_a_proof_that_cannot_be_read_is_a_fork_not_a_crash() -> None:
    audit = _audit()
    audit.add_statement(_statement(1, [_head(0, 1, 5)]))
    (check,) = audit.add_statement(_statement(2, [_head(0, 2, 9)]))
    audit.check_consistency(check, VerificationError("shard 0 is missing stored tiles"))
    assert _kinds(audit.report()) == [("anchored_fork", 2, 0)]


def test_a_head_whose_block_is_gone_or_differs_is_named() -> None:
    gone = dataclasses.replace(_head(0, 1, 5), block=None)
    moved = dataclasses.replace(_head(1, 0, 3), block=BlockRef(b"\x09" * 32, 3, ref.mth(LEAVES[:3])))
    report = _run(_audit(), [_statement(1, [gone, moved])])
    assert _kinds(report) == [("anchored_block", 1, 0), ("anchored_block", 1, 1)]


def test_a_statement_signed_by_the_sealers_key_is_named_even_when_that_key_is_offered_as_the_anchorers() -> (
    None
):
    statement = _statement(1, [_head(0, 0, 3)], key=SEALER)
    audit = AnchorAudit([ANCHORER.verifier, SEALER.verifier], [SEALER.verifier], {}, 100)
    report = _run(audit, [statement])
    assert _kinds(report) == [("statement_sealer_key", 1, None), ("statement_signature", 1, None)]
    assert "unit.test/sealer" in report.mismatches[0].detail


def test_without_any_anchorer_key_every_statement_fails_closed() -> None:
    report = _run(AnchorAudit([], [SEALER.verifier], {}, 100), [_statement(1, [_head(0, 0, 3)])])
    assert _kinds(report) == [("statement_signature", 1, None)]
    assert "--trusted-keys" in report.mismatches[0].detail


def test_receipts_are_checked_when_a_checker_is_given_and_counted_unchecked_otherwise() -> None:
    seen: list[tuple[Receipt, int]] = []

    def check(receipt: Receipt, seq: int) -> str:
        seen.append((receipt, seq))
        if receipt.data["responses"] != ["AAAA"]:
            raise VerificationError("token does not verify")
        return "timestamped"

    good = _statement(1, [_head(0, 0, 3)])
    good = dataclasses.replace(good, receipts=(_receipt(good.note),))
    bad = _statement(2, [_head(0, 0, 3)])
    bad = dataclasses.replace(
        bad, receipts=(StoredReceipt("rfc3161", {"statement": bad.note, "responses": []}),)
    )
    report = _run(_audit(checkers={"rfc3161": check}), [good, bad])
    assert _kinds(report) == [("receipt", 2, None)]
    assert report.receipts_checked == {"rfc3161": 1}
    assert [(r.type, seq) for r, seq in seen] == [
        ("rfc3161", 1),
        ("rfc3161", 2),
    ]  # with its statement's number
    unchecked = _run(_audit(), [good])
    assert unchecked.ok
    assert (unchecked.receipts_unchecked, unchecked.receipts_checked) == ({"rfc3161": 1}, {})


def test_a_receipt_over_another_statement_is_named_even_when_its_token_verifies() -> None:
    statement = _statement(1, [_head(0, 0, 3)])
    other = _statement(1, [_head(0, 0, 3)], key=SigningKey.generate("unit.test/other"))
    statement = dataclasses.replace(
        statement, receipts=(_receipt(other.note), StoredReceipt("rfc3161", "[]"))
    )
    report = _run(_audit(checkers={"rfc3161": lambda receipt, seq: "ok"}), [statement])
    assert _kinds(report) == [("receipt_statement", 1, None), ("receipt", 1, None)]


def test_a_published_statement_the_database_lacks_names_each_shard_whose_block_differs() -> None:
    audit = _audit()
    anchored = _statement(2, [_head(0, 2, 11), _head(1, 0, 5), _head(2, 4, 9)])
    resealed = BlockRef(b"\x05" * 32, 16, ref.mth(ref.leaves(16, salt=2)))
    head1 = _head(1, 0, 5).block
    assert head1 is not None
    audit.add_published(7, (2, anchored.note), None, {(0, 2): resealed, (1, 0): head1})
    report = audit.report()
    assert _kinds(report) == [
        ("published_missing", 2, None),
        ("published_head", 2, 0),
        ("published_head", 2, 2),
    ]
    assert "offset 7" in report.mismatches[0].detail
    assert _b64(resealed.block_hash) in report.mismatches[1].detail
    assert "no block 4" in report.mismatches[2].detail
    assert report.published == 1


def test_a_published_statement_that_differs_or_is_no_statement_is_named() -> None:
    audit = _audit()
    published = _statement(3, [_head(0, 0, 3)])
    audit.add_published(0, (3, published.note), published.note, {})
    assert audit.report().ok
    head = _head(0, 0, 3).block
    assert head is not None
    audit.add_published(1, (3, published.note), "another note\n", {(0, 0): head})
    audit.add_published(2, VerificationError("no provledger-seq header"), None, {})
    assert _kinds(audit.report()) == [("published_differs", 3, None), ("published_record", None, None)]


def test_an_anchor_mismatch_fails_the_whole_report_and_shows_in_its_json() -> None:
    anchors = _run(_audit(), [_statement(1, [_head(0, 0, 3)], key=SEALER)])
    report = AuditReport((), checkpoints_checked=True, anchors=anchors)
    assert not report.ok
    document = report.to_json()
    assert document["totals"]["mismatches"] == 2
    assert document["anchors"]["mismatch_counts"] == {"statement_sealer_key": 1, "statement_signature": 1}
    assert document["anchors"]["published_compared"] is None
    assert [m["seq"] for m in document["anchors"]["mismatches"]] == [1, 1]
