"""The trust rules of a bundle's block (:mod:`provledger.ledger.trust`), each against a hostile bundle."""

from __future__ import annotations

import dataclasses

import pytest
from tests.helpers.anchor_links import link, linked_receipt, statement
from tests.helpers.ledger_sealing import LOG_ORIGIN, Shard, fixed_key

from provledger.errors import VerificationError
from provledger.ledger.checkpoint import shard_checkpoint, sign_checkpoint
from provledger.ledger.evidence import CheckStatus, Evidence, Receipt, verify_evidence
from provledger.ledger.keys import KeySet, TrustedKey
from provledger.ledger.trust import origin_of_keys

SEALER, ANCHORER, NEXT = fixed_key(seed=1), fixed_key("anchorer.example.com", seed=9), fixed_key(seed=2)
#: The retired sealer key's end: blocks claiming earlier sealed_at values need an attested time.
RETIRED_AT = 10_000_000


def _failed(evidence: Evidence, keys: KeySet, **options: object) -> dict[str, str]:
    return {c.name: c.detail for c in verify_evidence(evidence, keys, **options).failures()}  # type: ignore[arg-type]


def _shard(sealed_at: int) -> Shard:
    shard = Shard()
    for height in range(3):
        shard.seal([f"e{height}/{i}".encode() for i in range(2)], SEALER, sealed_at=sealed_at + height)
    return shard


def test_a_bundle_of_another_log_signed_by_the_same_key_is_refused() -> None:
    shard = _shard(1_000)
    evidence = shard.evidence(0, SEALER)
    failed = _failed(evidence, KeySet.of([SEALER.verifier]), log_origin="other.example/log")
    assert "the block belongs to another log" in failed["log-id"]
    assert "is not shard 0 of 'other.example/log'" in failed["checkpoint"]
    assert _failed(evidence, KeySet.of([SEALER.verifier]), log_origin=LOG_ORIGIN) == {}


def test_a_checkpoint_signed_by_another_trusted_key_is_refused() -> None:
    shard = _shard(1_000)
    header = shard.headers[0]
    by_anchorer = sign_checkpoint(shard_checkpoint(LOG_ORIGIN, header), [ANCHORER])
    evidence = dataclasses.replace(shard.evidence(0, SEALER), checkpoint=by_anchorer)
    failed = _failed(evidence, KeySet.of([SEALER.verifier, ANCHORER.verifier]), log_origin=LOG_ORIGIN)
    assert set(failed) == {"checkpoint"}
    assert "not signed by the key that signed the header" in failed["checkpoint"]


def _retired() -> KeySet:
    return KeySet((TrustedKey(SEALER.verifier, 0, RETIRED_AT), TrustedKey(NEXT.verifier, RETIRED_AT)))


def _anchored(shard: Shard) -> Evidence:
    note = statement([(shard, 2)], ANCHORER)
    receipt = linked_receipt("rfc3161", note, link(shard, 0, 2))
    return shard.evidence(0, SEALER, receipts=(receipt,))


def _stamped(receipt: Receipt, evidence: Evidence) -> str:
    return "a fake TSA saw it"


def test_a_retired_key_cannot_backdate_without_an_attested_time() -> None:
    # Signed long after retirement with the retired key, claiming a sealed_at inside its range.
    keys = KeySet((*_retired().keys, TrustedKey(ANCHORER.verifier)))
    evidence = _anchored(_shard(RETIRED_AT - 100))
    failed = _failed(evidence, keys, log_origin=LOG_ORIGIN)
    assert set(failed) == {"key-time"}
    assert f"was retired at {RETIRED_AT}" in failed["key-time"]
    assert "can backdate" in failed["key-time"]
    # An attested time after the end does not help: the block may have been signed then.
    late = {"rfc3161": lambda receipt: RETIRED_AT + 5}
    options = {"log_origin": LOG_ORIGIN, "receipt_verifiers": {"rfc3161": _stamped}}
    assert set(_failed(evidence, keys, receipt_times=late, **options)) == {"key-time"}
    # A TSA time before the end proves the block existed while the key was still valid.
    early = {"rfc3161": lambda receipt: RETIRED_AT - 1}
    result = verify_evidence(evidence, keys, receipt_times=early, **options)  # type: ignore[arg-type]
    assert result.ok, result.failures()
    detail = {c.name: c for c in result.checks}["key-time"]
    assert detail.status is CheckStatus.PASSED
    assert f"attests the block existed at {RETIRED_AT - 1}" in detail.detail


def test_a_receipt_that_fails_attests_no_time() -> None:
    keys = KeySet((*_retired().keys, TrustedKey(ANCHORER.verifier)))
    evidence = _anchored(_shard(RETIRED_AT - 100))

    def refuses(receipt: Receipt, bundle: Evidence) -> str:
        raise VerificationError("the token does not verify")

    early = {"rfc3161": lambda receipt: 0}
    failed = _failed(
        evidence, keys, log_origin=LOG_ORIGIN, receipt_verifiers={"rfc3161": refuses}, receipt_times=early
    )
    assert {"key-time", "receipt[0]:rfc3161"} <= set(failed)


def test_the_current_key_needs_no_attested_time_and_the_next_cannot_sign_before_its_start() -> None:
    current = KeySet((TrustedKey(SEALER.verifier, 0),))
    assert _failed(_shard(1_000).evidence(0, SEALER), current, log_origin=LOG_ORIGIN) == {}
    later = KeySet((TrustedKey(SEALER.verifier, 5_000),))
    failed = _failed(_shard(1_000).evidence(0, SEALER), later, log_origin=LOG_ORIGIN)
    assert "not valid at 1000" in failed["header-signature"]


def test_expected_event_is_held_to_the_bundle() -> None:
    evidence = _shard(1_000).evidence(0, SEALER)
    wanted = "0190f3a0-0000-7000-8000-000000000001"
    failed = _failed(evidence, KeySet.of([SEALER.verifier]), expected_event_id=wanted)
    assert failed["expected-event"] == f"the bundle names event 'event-0', not the expected event {wanted}"
    with_id = dataclasses.replace(evidence, event_id=wanted)
    assert "expected-event" not in _failed(with_id, KeySet.of([SEALER.verifier]), expected_event_id=wanted)


@pytest.mark.parametrize(
    ("names", "origin"),
    [(["log.example/a"], "log.example/a"), (["log.example/a", "log.example/a"], "log.example/a"),
     (["log.example/a", "anchorer.example"], None)],
)  # fmt: skip
def test_the_origin_comes_from_the_keys_only_when_they_all_name_one(
    names: list[str], origin: str | None
) -> None:
    keys = KeySet.of([fixed_key(name, seed=n + 1).verifier for n, name in enumerate(names)])
    assert origin_of_keys(keys) == origin


def test_a_time_that_cannot_be_read_attests_nothing() -> None:
    keys = KeySet((*_retired().keys, TrustedKey(ANCHORER.verifier)))
    evidence = _anchored(_shard(RETIRED_AT - 100))

    def unreadable(receipt: Receipt) -> int:
        raise VerificationError("no time in this receipt")

    failed = _failed(
        evidence,
        keys,
        log_origin=LOG_ORIGIN,
        receipt_verifiers={"rfc3161": _stamped},
        receipt_times={"rfc3161": unreadable},
    )
    assert set(failed) == {"key-time"}
