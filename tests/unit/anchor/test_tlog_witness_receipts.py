"""``tlog-witness`` receipts built by hand, checked through ``verify_evidence``: each lie is named.

The sealer key signs real shard checkpoints of an in-memory shard (blocks of 3, 5, 1 and 8
events: tree sizes 3, 8, 9, 17); witnesses cosign them with
:func:`provledger.ledger.cosignature.cosignature`; the consistency proofs come from the shard's
stored nodes. The bundle is for leaf 5, in block 1 (tree size 8).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.helpers.ledger_sealing import LOG_ORIGIN, Shard, fixed_key, sealed_shard

from provledger.anchor.tlog_witness.verify import TlogWitnessReceiptVerifier
from provledger.errors import VerificationError
from provledger.ledger.checkpoint import Checkpoint, shard_origin, sign_checkpoint
from provledger.ledger.cosignature import cosignature, cosigner
from provledger.ledger.evidence import Check, CheckStatus, Receipt, verify_evidence
from provledger.ledger.keys import KeySet, SigningKey
from provledger.ledger.note import Note, NoteSignature, parse_note
from provledger.ledger.proofs import consistency_proof_from
from provledger.ledger.witness_policy import WitnessPolicy, parse_witness_policy
from provledger.ledger.witnessed import RECEIPT_TYPE, WitnessReceipt

KEY = fixed_key()
TRUSTED = KeySet.of([KEY.verifier])
W1, W2 = fixed_key("w1.example/witness", seed=21), fixed_key("w2.example/witness", seed=22)
STRANGER = fixed_key("stranger.example/witness", seed=23)
#: 2026-12-01T00:00:00Z.
T = 1_796_083_200
LEAF, BLOCK = 5, 1


def policy_of(*keys: SigningKey, quorum: str = "all") -> WitnessPolicy:
    lines = [f"witness w{i} {cosigner(k).verifier_key_string()}" for i, k in enumerate(keys, 1)]
    names = " ".join(f"w{i}" for i in range(1, len(keys) + 1))
    return parse_witness_policy("\n".join([*lines, f"group q {quorum} {names}", "quorum q", ""]))


ONE_OF_ONE, TWO_OF_TWO = policy_of(W1), policy_of(W1, W2)


@pytest.fixture(scope="module")
def shard() -> Shard:
    return sealed_shard(KEY)


def signed_checkpoint(shard: Shard, head: int, key: SigningKey = KEY, origin: str = LOG_ORIGIN) -> str:
    header = shard.headers[head]
    return sign_checkpoint(
        Checkpoint(shard_origin(origin, shard.shard), header.tree_size, header.log_root), [key]
    )


def cosigned(note: str, *lines: NoteSignature) -> str:
    parsed = parse_note(note)
    return Note(parsed.text, (*parsed.signatures, *lines)).to_text()


def cosign(note: str, *cosigners: tuple[SigningKey, int]) -> str:
    text = parse_note(note).text
    return cosigned(note, *(cosignature(text, key, at) for key, at in cosigners))


def proof(shard: Shard, old_size: int, new_size: int) -> tuple[bytes, ...]:
    if old_size == new_size:
        return ()
    return tuple(consistency_proof_from(lambda ids: [shard.nodes[i] for i in ids], old_size, new_size))


def receipt(
    shard: Shard, head: int = 3, *cosigners: tuple[SigningKey, int], note: str | None = None
) -> Receipt:
    """A receipt for the bundle's block: ``note`` (default: the checkpoint after block ``head``, cosigned
    by w1 at T) with the lines of ``cosigners`` appended."""
    if note is None:
        note = cosign(signed_checkpoint(shard, head), *(cosigners or ((W1, T),)))
    else:
        note = cosign(note, *cosigners)
    old, new = shard.headers[BLOCK].tree_size, shard.headers[head].tree_size
    return Receipt.from_json(WitnessReceipt(note, proof(shard, old, new)).to_json())


def check(
    shard: Shard, item: Receipt | dict[str, Any], policy: WitnessPolicy = ONE_OF_ONE, **options: Any
) -> tuple[Check, Check]:
    """The receipt's check and the anchor policy's, for the bundle of leaf 5 requiring a witness receipt."""
    item = item if isinstance(item, Receipt) else Receipt.from_json(item)
    evidence = shard.evidence(LEAF, KEY, receipts=(item,))
    result = verify_evidence(
        evidence,
        TRUSTED,
        receipt_verifiers={RECEIPT_TYPE: TlogWitnessReceiptVerifier(policy)},
        required_receipts={RECEIPT_TYPE},
        **options,
    )
    checks = {c.name: c for c in result.checks}
    return checks[f"receipt[0]:{RECEIPT_TYPE}"], checks["anchor-policy"]


def failure(
    shard: Shard, item: Receipt | dict[str, Any], policy: WitnessPolicy = ONE_OF_ONE, **options: Any
) -> str:
    receipt_check, policy_check = check(shard, item, policy, **options)
    assert receipt_check.status is CheckStatus.FAILED, receipt_check
    assert policy_check.status is CheckStatus.FAILED
    assert policy_check.detail == "missing verified receipts of type ['tlog-witness']"
    return receipt_check.detail


def test_a_genuine_one_of_one_receipt_names_the_witness_and_its_time(shard: Shard) -> None:
    receipt_check, policy_check = check(shard, receipt(shard), log_origin=LOG_ORIGIN)
    assert receipt_check.status is CheckStatus.PASSED, receipt_check.detail
    assert policy_check.passed
    assert receipt_check.detail == (
        f"checkpoint {LOG_ORIGIN}/shard/0 at size 17 is signed by {LOG_ORIGIN} and extends the block's "
        "tree of size 8; cosigned by w1 (w1.example/witness) at 2026-12-01T00:00:00Z; "
        "quorum 'q' met: cosigned by w1"
    )


def test_a_checkpoint_of_the_blocks_own_size_needs_no_proof(shard: Shard) -> None:
    item = receipt(shard, BLOCK)
    assert item.data["consistency_proof"] == []
    assert check(shard, item)[0].passed


def test_two_of_two_lists_both_witnesses_in_time_order(shard: Shard) -> None:
    receipt_check, _ = check(shard, receipt(shard, 3, (W2, T + 5), (W1, T + 60)), TWO_OF_TWO)
    assert receipt_check.passed, receipt_check.detail
    assert (
        "cosigned by w2 (w2.example/witness) at 2026-12-01T00:00:05Z, "
        "w1 (w1.example/witness) at 2026-12-01T00:01:00Z; quorum 'q' met" in receipt_check.detail
    )


def test_two_of_two_with_one_missing_fails_naming_the_missing_witness(shard: Shard) -> None:
    assert failure(shard, receipt(shard, 3, (W1, T)), TWO_OF_TWO) == (
        "quorum 'q' not met (it needs 2 of w1, w2): cosigned by w1; missing w2: fetch the bundle again "
        "once more witnesses have cosigned, or check the witness keys in the policy"
    )
    assert check(shard, receipt(shard, 3, (W2, T)), policy_of(W1, W2, quorum="any"))[0].passed


def test_a_witness_name_with_another_key_is_a_stranger(shard: Shard) -> None:
    impostor = SigningKey.generate(W1.name)
    detail = failure(shard, receipt(shard, 3, (impostor, T)))
    assert "cosigned by no policy witness; missing w1" in detail


def test_a_cosignature_over_another_checkpoint_fails_the_receipt(shard: Shard) -> None:
    older = parse_note(signed_checkpoint(shard, 2)).text
    moved = cosigned(signed_checkpoint(shard, 3), cosignature(older, W1, T))
    detail = failure(shard, receipt(shard, 3, (W2, T), note=moved), policy_of(W1, W2, quorum="any"))
    assert detail == (
        "the cosignature of witness w1 (w1.example/witness) does not verify over this checkpoint "
        "(it cosigned another checkpoint, or the line was altered)"
    )


def test_unknown_witnesses_are_ignored_as_signed_note_says(shard: Shard) -> None:
    # C2SP tlog-cosignature's own example line, by a witness nobody here knows, and a stranger's.
    spec_line = parse_note(
        "x\n\n\u2014 witness.example.com/w1 "
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    ).signatures[0]
    note = cosigned(cosign(signed_checkpoint(shard, 3), (STRANGER, T), (W1, T + 1)), spec_line)
    receipt_check, _ = check(shard, receipt(shard, 3, note=note))
    assert receipt_check.passed, receipt_check.detail
    assert "stranger" not in receipt_check.detail
    assert "witness.example.com" not in receipt_check.detail


def test_a_witness_that_cosigned_twice_counts_once_at_its_first_time(shard: Shard) -> None:
    receipt_check, _ = check(shard, receipt(shard, 3, (W1, T + 9), (W1, T)), TWO_OF_TWO)
    assert "quorum 'q' not met" in receipt_check.detail
    single, _ = check(shard, receipt(shard, 3, (W1, T + 9), (W1, T)))
    assert "at 2026-12-01T00:00:00Z;" in single.detail


@pytest.mark.parametrize(
    ("origin", "log_origin", "reason"),
    [
        ("evil.example/log", None, f"origin 'evil.example/log/shard/0' is not '{LOG_ORIGIN}/shard/0'"),
        ("evil.example/log", LOG_ORIGIN, "origin 'evil.example/log/shard/0' is not"),
        (LOG_ORIGIN, "other.example/log", "is not 'other.example/log/shard/0', the bundle's shard"),
    ],
)
def test_a_checkpoint_of_another_log_fails(
    shard: Shard, origin: str, log_origin: str | None, reason: str
) -> None:
    item = receipt(shard, 3, (W1, T), note=signed_checkpoint(shard, 3, origin=origin))
    assert reason in failure(shard, item, log_origin=log_origin)


def test_a_checkpoint_of_another_shard_fails(shard: Shard) -> None:
    other = sealed_shard(KEY, shard=1)
    item = receipt(shard, 3, (W1, T), note=signed_checkpoint(other, 3))
    assert f"origin '{LOG_ORIGIN}/shard/1' is not '{LOG_ORIGIN}/shard/0'" in failure(shard, item)


def test_a_checkpoint_smaller_than_the_block_fails(shard: Shard) -> None:
    note = cosign(signed_checkpoint(shard, 0), (W1, T))
    item = {"type": RECEIPT_TYPE, "checkpoint": note, "consistency_proof": []}
    assert "size 3 is smaller than the block's tree size 8: it cannot vouch for this block" in failure(
        shard, item
    )


def test_a_checkpoint_by_an_untrusted_log_key_fails(shard: Shard) -> None:
    forged = SigningKey.generate(KEY.name)
    item = receipt(shard, 3, (W1, T), note=signed_checkpoint(shard, 3, key=forged))
    assert "note has no signature from a trusted key" in failure(shard, item)


def test_an_altered_checkpoint_fails_the_sealer_signature(shard: Shard) -> None:
    header = shard.headers[3]
    note = signed_checkpoint(shard, 3)
    root = base64.b64encode(header.log_root).decode()
    altered = note.replace(root, base64.b64encode(bytes(32)).decode())
    assert "does not verify" in failure(shard, receipt(shard, 3, (W1, T), note=altered))


def _with_proof(item: Receipt, entries: list[Any]) -> dict[str, Any]:
    return {**item.to_json(), "consistency_proof": entries}


def test_every_bad_proof_fails(shard: Shard) -> None:
    item = receipt(shard)
    good: list[str] = list(item.data["consistency_proof"])
    flipped = bytearray(base64.b64decode(good[0]))
    flipped[0] ^= 1
    zero = base64.b64encode(bytes(32)).decode()
    cases: dict[str, list[Any]] = {
        "does not extend the block's tree (size 8 to 17)": [
            base64.b64encode(bytes(flipped)).decode(),
            *good[1:],
        ],
        "too long": [*good, zero],
        "empty consistency proof": [],
        "consistency proof from 8 to 17 is too short": good[:-1],
        "more than 64": [zero] * 65,
        "has 1 bytes, a SHA-256 hash has 32": ["AA==", *good[1:]],
        "not canonical base64": ["A" * 42 + "B=", *good[1:]],
        "not valid base64": ["!!!!"],
        "non-string entry": [1],
    }
    for reason, entries in cases.items():
        assert reason in failure(shard, _with_proof(item, entries)), reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"consistency_proof": []}, "with a string 'checkpoint' and a list 'consistency_proof'"),
        ({"checkpoint": "x"}, "with a string 'checkpoint' and a list 'consistency_proof'"),
        ({"checkpoint": ["x"], "consistency_proof": []}, "with a string 'checkpoint'"),
        ({"checkpoint": "x" * (65 << 10), "consistency_proof": []}, "more than 65536"),
        ({"checkpoint": "not a note", "consistency_proof": []}, "note text must end with a newline"),
    ],
)
def test_malformed_receipt_fields_fail(shard: Shard, fields: dict[str, Any], reason: str) -> None:
    assert reason in failure(shard, {"type": RECEIPT_TYPE, **fields})


def test_a_statement_and_link_do_not_make_a_witness_receipt(shard: Shard) -> None:
    # The link form is fixed by the type: a statement-shaped receipt of this type is read as
    # what it claims to be, and fails for want of a checkpoint.
    assert "with a string 'checkpoint'" in failure(
        shard, {"type": RECEIPT_TYPE, "statement": "x", "link": {}}
    )


def test_hostile_signature_lines(shard: Shard) -> None:
    note = signed_checkpoint(shard, 3)
    text = parse_note(note).text
    strangers = [cosignature(text, STRANGER, T + i) for i in range(98)]
    many = cosigned(note, *strangers, cosignature(text, W1, T))  # 100 lines: the note limit
    assert check(shard, receipt(shard, 3, note=many))[0].passed
    proof_of = receipt(shard).data["consistency_proof"]

    def raw(checkpoint: str) -> dict[str, Any]:
        return {"type": RECEIPT_TYPE, "checkpoint": checkpoint, "consistency_proof": proof_of}

    too_many = many + cosignature(text, W2, T).line()
    assert "note has 101 signatures, more than 100" in failure(shard, raw(too_many))
    garbled = cosign(note, (W1, T)).replace("\u2014 w1.example/witness ", "\u2014 w1.example/witness %%")
    assert "not valid base64" in failure(shard, raw(garbled))
    short = cosigned(note, NoteSignature(W1.name, cosigner(W1).key_id, bytes(10)))
    assert "does not verify over this checkpoint" in failure(shard, raw(short))


def test_a_cosignature_time_that_is_no_date_fails(shard: Shard) -> None:
    item = receipt(shard, 3, (W1, (1 << 63) - 1))
    assert "is not a date (beyond year 9999)" in failure(shard, item)


def test_policy_log_lines_narrow_which_log_key_may_sign(shard: Shard) -> None:
    witness_line = f"witness w1 {cosigner(W1).verifier_key_string()}\nquorum w1\n"
    ours = parse_witness_policy(f"log {KEY.verifier.verifier_key_string()}\n" + witness_line)
    assert check(shard, receipt(shard), ours)[0].passed
    theirs = parse_witness_policy(f"log {STRANGER.verifier.verifier_key_string()}\n" + witness_line)
    assert "no signature from a trusted key" in failure(shard, receipt(shard), theirs)


def test_without_a_verifier_the_receipt_is_unchecked_and_proves_nothing(shard: Shard) -> None:
    evidence = shard.evidence(LEAF, KEY, receipts=(receipt(shard),))
    result = verify_evidence(evidence, TRUSTED, required_receipts={RECEIPT_TYPE})
    statuses = {c.name: c.status for c in result.checks}
    assert statuses[f"receipt[0]:{RECEIPT_TYPE}"] is CheckStatus.UNCHECKED
    assert statuses["anchor-policy"] is CheckStatus.FAILED


def test_the_verifier_alone_refuses_another_kind() -> None:
    with pytest.raises(VerificationError, match="'rfc3161' receipt is not a tlog-witness receipt"):
        TlogWitnessReceiptVerifier(ONE_OF_ONE).check(Receipt.from_json({"type": "rfc3161"}))


COSIGNERS = {"w1": W1, "w2": W2, "stranger": STRANGER}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cosigning=st.sets(st.sampled_from(sorted(COSIGNERS))),
    quorum=st.sampled_from(["any", "all", "1", "2"]),
)
def test_the_receipt_passes_exactly_when_the_policy_quorum_is_met(
    shard: Shard, cosigning: set[str], quorum: str
) -> None:
    policy = policy_of(W1, W2, quorum=quorum)
    cosigners = tuple((COSIGNERS[name], T) for name in sorted(cosigning))
    note = cosign(signed_checkpoint(shard, 3), *cosigners)
    receipt_check, _ = check(shard, receipt(shard, 3, note=note), policy)
    assert receipt_check.passed == policy.evaluate(cosigning).met, receipt_check.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), replacement=st.characters(codec="utf-8"))
def test_any_changed_character_of_the_cosigned_checkpoint_fails(
    shard: Shard, position: int, replacement: str
) -> None:
    item = receipt(shard)
    note: str = item.data["checkpoint"]
    position %= len(note)
    assume(note[position] != replacement)
    changed = note[:position] + replacement + note[position + 1 :]
    receipt_check, _ = check(shard, {**item.to_json(), "checkpoint": changed})
    assert receipt_check.status is CheckStatus.FAILED
