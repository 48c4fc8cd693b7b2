"""Evidence bundles: JSON round trip, every check reported, and each tamper caught by its check."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from tests.helpers.anchor_links import link, linked_receipt, statement
from tests.helpers.ledger_sealing import LOG_ORIGIN, Shard, fixed_key, sealed_shard

from provledger.errors import VerificationError
from provledger.ledger.checkpoint import Checkpoint, shard_checkpoint, sign_checkpoint
from provledger.ledger.evidence import (
    CheckStatus,
    Evidence,
    Receipt,
    verify_evidence,
)
from provledger.ledger.keys import KeySet, SigningKey, TrustedKey

KEY = fixed_key()
TRUSTED = KeySet.of([KEY.verifier])


@pytest.fixture(scope="module")
def shard() -> Shard:
    return sealed_shard(KEY)


def _statuses(evidence: Evidence, keys: KeySet = TRUSTED, **options: Any) -> dict[str, CheckStatus]:
    return {c.name: c.status for c in verify_evidence(evidence, keys, **options).checks}


def _failed(evidence: Evidence, keys: KeySet = TRUSTED, **options: Any) -> dict[str, str]:
    return {c.name: c.detail for c in verify_evidence(evidence, keys, **options).failures()}


def test_every_event_of_every_block_verifies(shard: Shard) -> None:
    for leaf_index in range(len(shard.events)):
        result = verify_evidence(shard.evidence(leaf_index, KEY), TRUSTED, log_origin=LOG_ORIGIN)
        assert result.ok, result.failures()
        assert result.raise_for_failures() is result
    statuses = _statuses(shard.evidence(0, KEY))
    assert statuses == {
        "leaf-in-block": CheckStatus.PASSED,
        "inclusion": CheckStatus.PASSED,
        "header-signature": CheckStatus.PASSED,
        "key-time": CheckStatus.PASSED,
        "log-id": CheckStatus.UNCHECKED,
        "checkpoint": CheckStatus.PASSED,
        "event-id": CheckStatus.UNCHECKED,
    }


def test_json_round_trip_has_the_served_shape(shard: Shard) -> None:
    evidence = shard.evidence(5, KEY, receipts=(Receipt("rfc3161", {"type": "rfc3161", "token": "AA=="}),))
    document = json.loads(evidence.to_json())
    assert document["format"] == "provledger-evidence/v1"  # what offline verifiers match on
    assert set(document) >= {"event", "shard", "leaf_index", "tree_size", "inclusion_proof", "block"}
    assert set(document) >= {"checkpoint", "receipts", "keys"}
    assert document["event"]["event_id"] == "event-5"
    header = evidence.header
    assert document["block"]["height"] == header.height == 1
    assert document["block"]["key_id"] == KEY.key_id.hex()
    assert document["block"]["log_id"] == header.log_id.hex()
    assert document["receipts"] == [{"type": "rfc3161", "token": "AA=="}]
    assert document["keys"] == [KEY.verifier.verifier_key_string()]
    assert Evidence.from_json(evidence.to_json()) == evidence
    assert Evidence.from_json(document) == evidence


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("format",), "provledger-evidence/v2", "format"),
        (("block", "tree_size"), 99, "header bytes say"),
        (("block", "log_root"), "AAAA", "header bytes say"),
        (("block", "height"), True, "header bytes say"),
        (("block", "header"), "AAAA", "186 bytes"),
        (("leaf_index",), -1, "negative"),
        (("leaf_index",), "5", "not a int"),
        (("inclusion_proof",), [1], "non-string"),
        (("inclusion_proof",), ["!!"], "base64"),
        (("keys",), ["not a key"], "<name>"),
        (("receipts",), [{"kind": "x"}], "string 'type'"),
        (("anchored",), True, "anchored is True but it carries no receipt"),
        (("anchored",), "false", "anchored is 'false'"),
        (("next_anchor_due",), "soon", "not an RFC 3339 time"),
        (("next_anchor_due",), 1, "not null"),
        (("event",), None, "not a dict"),
    ],
)
def test_malformed_bundles_are_rejected_when_read(
    shard: Shard, path: tuple[str, ...], value: object, message: str
) -> None:
    document = shard.evidence(5, KEY).to_json_obj()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(VerificationError, match=message):
        Evidence.from_json(json.dumps(document))


def test_not_json_is_rejected() -> None:
    with pytest.raises(VerificationError, match="not JSON"):
        Evidence.from_json("{")


def test_each_tamper_fails_exactly_its_check(shard: Shard) -> None:
    evidence = shard.evidence(5, KEY)  # block 1 holds leaves 3..7
    other_block = shard.evidence(9, KEY)
    cases = {
        "altered event bytes": (dataclasses.replace(evidence, canonical_event=b"forged"), {"inclusion"}),
        "proof of another leaf": (
            dataclasses.replace(evidence, inclusion_proof=shard.evidence(4, KEY).inclusion_proof),
            {"inclusion"},
        ),
        "leaf outside its block": (
            dataclasses.replace(evidence, leaf_index=2, canonical_event=shard.events[2]),
            {"leaf-in-block", "inclusion"},
        ),
        "another block's header": (
            dataclasses.replace(
                evidence, header=other_block.header, header_signature=other_block.header_signature
            ),
            {"leaf-in-block", "inclusion", "checkpoint"},
        ),
        "bad signature": (
            dataclasses.replace(evidence, header_signature=bytes(64)),
            {"header-signature"},
        ),
        "checkpoint of another size": (
            dataclasses.replace(evidence, checkpoint=other_block.checkpoint),
            {"checkpoint"},
        ),
        "checkpoint of another shard": (
            dataclasses.replace(
                evidence,
                checkpoint=sign_checkpoint(
                    dataclasses.replace(
                        shard_checkpoint(LOG_ORIGIN, evidence.header), origin=f"{LOG_ORIGIN}/shard/4"
                    ),
                    [KEY],
                ),
            ),
            {"checkpoint"},
        ),
        "checkpoint by an untrusted key": (
            dataclasses.replace(
                evidence,
                checkpoint=sign_checkpoint(
                    shard_checkpoint(LOG_ORIGIN, evidence.header), [fixed_key(seed=8)]
                ),
            ),
            {"checkpoint"},
        ),
        "top-level shard disagrees": (dataclasses.replace(evidence, shard=1), {"leaf-in-block"}),
    }
    for name, (tampered, failing) in cases.items():
        assert set(_failed(tampered)) == failing, name


def test_origin_is_checked_exactly_when_known(shard: Shard) -> None:
    evidence = shard.evidence(0, KEY)
    failed = _failed(evidence, log_origin="other.example/log")
    assert failed["checkpoint"] == (
        f"checkpoint origin '{LOG_ORIGIN}/shard/0' is not shard 0 of 'other.example/log'"
    )
    assert set(failed) == {"checkpoint", "log-id"}
    assert "the block belongs to another log" in failed["log-id"]


def test_rotated_out_key_fails_the_header_signature() -> None:
    old, new = fixed_key(seed=1), fixed_key(seed=2)
    shard = Shard()
    header = shard.seal([b"e0", b"e1"], old, sealed_at=2_000)
    keyset = KeySet((TrustedKey(old.verifier, 0, 1_000), TrustedKey(new.verifier, 1_000)))
    failed = _failed(shard.evidence(0, old), keyset)
    assert set(failed) == {"header-signature"}
    assert f"not valid at {header.sealed_at}" in failed["header-signature"]


def test_receipts_are_checked_by_type_and_unknown_types_stay_unchecked(shard: Shard) -> None:
    anchorer = fixed_key("anchorer.example.com", seed=9)
    note, to_head = statement([(shard, 3)], anchorer), link(shard, 1, 3)
    receipts = (linked_receipt("witness", note, to_head, ok=True), linked_receipt("evm", note, to_head))
    evidence = shard.evidence(5, KEY, receipts=receipts)
    trusted = KeySet.of([KEY.verifier, anchorer.verifier])

    def witness(receipt: Receipt, bundle: Evidence) -> str:
        if not receipt.data.get("ok"):
            raise VerificationError("witness says no")
        return f"witnessed size {bundle.tree_size}"

    result = verify_evidence(evidence, trusted, receipt_verifiers={"witness": witness})
    statuses = {c.name: c.status for c in result.checks}
    assert statuses["receipt[0]:witness"] is CheckStatus.PASSED
    assert statuses["receipt[1]:evm"] is CheckStatus.UNCHECKED
    assert result.ok
    assert not verify_evidence(
        evidence, trusted, receipt_verifiers={"witness": witness}, required_receipts={"evm"}
    ).ok

    # A kind nobody can check here is still held to its link: a forged one fails the bundle.
    forged = dataclasses.replace(evidence, receipts=(linked_receipt("evm", note, link(shard, 1, 2)),))
    result = verify_evidence(forged, trusted, receipt_verifiers={"witness": witness})
    assert [c.name for c in result.failures()] == ["receipt[0]:evm"]
    unlinked = Receipt.from_json({"type": "future-kind", "proof": "?"})
    result = verify_evidence(dataclasses.replace(evidence, receipts=(unlinked,)), trusted)
    assert result.ok
    assert result.checks[-1].status is CheckStatus.UNCHECKED

    refused = dataclasses.replace(evidence, receipts=(linked_receipt("witness", note, to_head, ok=False),))
    result = verify_evidence(
        refused, trusted, receipt_verifiers={"witness": witness}, required_receipts={"witness"}
    )
    assert {c.name: c.detail for c in result.failures()} == {
        "receipt[0]:witness": "witness says no",
        "anchor-policy": "missing verified receipts of type ['witness']",
    }
    with pytest.raises(VerificationError, match="receipt\\[0\\]:witness: witness says no"):
        result.raise_for_failures()


def test_event_id_is_checked_when_a_decoder_is_given(shard: Shard) -> None:
    evidence = shard.evidence(3, KEY)
    assert _statuses(evidence, event_id_of=lambda data: "event-3")["event-id"] is CheckStatus.PASSED
    assert "event-id" in _failed(evidence, event_id_of=lambda data: "event-4")


def test_trust_comes_from_the_caller_not_the_bundle(shard: Shard) -> None:
    stranger = SigningKey.generate("ledger.example.com/log")
    evidence = shard.evidence(0, KEY)
    assert set(_failed(evidence, KeySet.of([stranger.verifier]))) == {"header-signature", "checkpoint"}
    with pytest.raises(VerificationError, match="empty"):
        verify_evidence(evidence, KeySet(()))


def test_checkpoint_with_extensions_still_binds_size_and_root(shard: Shard) -> None:
    evidence = shard.evidence(0, KEY)
    header = evidence.header
    extended = Checkpoint(f"{LOG_ORIGIN}/shard/0", header.tree_size, header.log_root, ("note: extra",))
    assert _failed(dataclasses.replace(evidence, checkpoint=sign_checkpoint(extended, [KEY]))) == {}


def test_receipts_compare_by_their_whole_object(shard: Shard) -> None:
    first = shard.evidence(0, KEY, receipts=(Receipt("rfc3161", {"type": "rfc3161", "token": "AA=="}),))
    second = dataclasses.replace(first, receipts=(Receipt("rfc3161", {"type": "rfc3161", "token": "AQ=="}),))
    assert first != second
    assert Evidence.from_json(second.to_json()) == second
