"""The pure cosignatures' audit on rows built in memory: what a stored line and its columns must agree on.

Checkpoints are signed over the slow RFC 9162 reference's roots, cosignatures made with the
witness's own code; each test stores one row the way an honest or a lying anchorer would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.helpers import rfc9162_reference as ref

from provledger.audit.cosignatures import CosignatureAudit, CosignatureReport
from provledger.ledger.checkpoint import Checkpoint, sign_checkpoint
from provledger.ledger.cosignature import cosignature, cosigner
from provledger.ledger.keys import SigningKey
from provledger.ledger.note import parse_note
from provledger.store.witnessed import StoredCosignature

SEALER = SigningKey.generate("unit.test/sealer")
ALICE = SigningKey.generate("unit.test/alice")
ORIGIN = "unit.test/ledger/shard/0"
LEAVES = ref.leaves(30)
T0 = 1796083200
AT = datetime.fromtimestamp(T0, UTC)


def _note(size: int) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, ref.mth(LEAVES[:size])), [SEALER])


def _row(size: int, at: int = T0, *, key: SigningKey = ALICE, line: str | None = None) -> StoredCosignature:
    """Alice's honest row for the checkpoint of ``size`` cosigned at ``at`` (``line`` replaces hers)."""
    note = _note(size)
    if line is None:
        line = cosignature(parse_note(note).text, key, at).line()  # with its newline, as the client stores it
    return StoredCosignature(
        0, size, cosigner(ALICE).verifier_key_string(), line, datetime.fromtimestamp(at, UTC), note
    )


def _audit(*rows: StoredCosignature, trusted: list[SigningKey] | None = None) -> CosignatureReport:
    audit = CosignatureAudit(None if trusted is None else [cosigner(k) for k in trusted], max_listed=5)
    for row in rows:
        audit.add(row)
    return audit.report()


def _with(row: StoredCosignature, **changes: object) -> StoredCosignature:
    values = {
        "shard": row.shard, "tree_size": row.tree_size, "witness_key": row.witness_key,
        "cosignature": row.cosignature, "cosigned_at": row.cosigned_at, "note": row.note,
    }  # fmt: skip
    values.update(changes)
    return StoredCosignature(**values)  # type: ignore[arg-type]


def test_honest_rows_pass_with_or_without_their_newline() -> None:
    report = _audit(_row(5), _row(10, T0 + 1), _row(20, T0 + 1))
    assert report.ok
    assert report.verified == {cosigner(ALICE).verifier_key_string(): 3}
    bare = _with(_row(5), cosignature=_row(5).cosignature.rstrip("\n"))
    assert _audit(bare).ok


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        (_with(_row(5), witness_key=SEALER.verifier.verifier_key_string()), "cosignature_key"),
        (_with(_row(5), witness_key="unit.test/alice+00000000+AA=="), "cosignature_key"),
        (_with(_row(5), cosignature=_row(5).cosignature + _row(5).cosignature), "cosignature_line"),
        (_with(_row(5), cosignature="— unit.test/alice not-base64\n"), "cosignature_line"),
        (_row(5, key=SigningKey.generate(ALICE.name)), "cosignature_line"),
        (_with(_row(5), note=_note(6)), "cosignature"),
        (_with(_row(5), cosignature=_row(6).cosignature), "cosignature"),
        (_with(_row(5), cosigned_at=AT + timedelta(seconds=1)), "cosignature_time"),
        (_with(_row(5), cosigned_at=AT + timedelta(microseconds=1)), "cosignature_time"),
    ],
    ids=[
        "a-sealer-key", "a-malformed-key", "two-lines", "not-base64", "another-key-same-name",
        "another-note", "another-checkpoints-line", "time-off-by-a-second", "time-off-by-a-microsecond",
    ],
)  # fmt: skip
def test_each_lie_is_one_mismatch_of_its_kind(row: StoredCosignature, kind: str) -> None:
    report = _audit(row)
    assert report.counts == {kind: 1}
    assert report.mismatches[0].tree_size == 5


def test_sizes_a_witness_cosigned_only_grow_with_time() -> None:
    assert _audit(_row(5, T0), _row(10, T0), _row(20, T0 + 7)).ok  # equal times are fine
    report = _audit(_row(5, T0 + 10), _row(10, T0 + 5), _row(20, T0 + 11))
    assert report.counts == {"cosignature_order": 1}
    assert report.mismatches[0].tree_size == 10
    other_shard = _with(_row(20, T0), shard=1)  # another shard's sizes are another sequence
    assert _audit(_row(5, T0 + 10), other_shard).ok


def test_keys_outside_the_users_list_are_counted_as_untrusted_not_failed() -> None:
    bob = SigningKey.generate("unit.test/bob")
    bobs = _with(_row(5, key=bob), witness_key=cosigner(bob).verifier_key_string())
    report = _audit(_row(5), bobs, trusted=[ALICE])
    assert report.ok
    assert report.untrusted == {cosigner(bob).verifier_key_string(): 1}
    assert _audit(_row(5), bobs).untrusted is None
