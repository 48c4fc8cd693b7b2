"""The link from a bundle's block to an anchored statement: every receipt's check before its kind's."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from tests.helpers.anchor_links import link, linked_receipt, statement
from tests.helpers.ledger_sealing import Shard, fixed_key, sealed_shard

from provledger.ledger.anchoring import AnchorLink
from provledger.ledger.evidence import CheckStatus, Evidence, Receipt, verify_evidence
from provledger.ledger.keys import KeySet, SigningKey

SEALER = fixed_key()
ANCHORER = fixed_key("anchorer.example.com", seed=9)
TRUSTED = KeySet.of([SEALER.verifier, ANCHORER.verifier])
KIND = "stamp"


def stamped(receipt: Receipt, evidence: Evidence) -> str:
    """A kind whose own check always holds, so each test sees the link's verdict alone."""
    return "stamped"


@pytest.fixture(scope="module")
def shard() -> Shard:
    """Blocks of 3, 5, 1 and 8 events: tree sizes 3, 8, 9 and 17."""
    return sealed_shard(SEALER)


def _bundle(shard: Shard, height: int, receipt: Receipt) -> Evidence:
    first_leaf = shard.headers[height].first_leaf_index
    return shard.evidence(first_leaf, SEALER, receipts=(receipt,))


def _receipt_check(evidence: Evidence, keys: KeySet = TRUSTED, **options: Any) -> tuple[CheckStatus, str]:
    result = verify_evidence(evidence, keys, receipt_verifiers={KIND: stamped}, **options)
    check = next(c for c in result.checks if c.name.startswith("receipt[0]"))
    return check.status, check.detail


def _fails(evidence: Evidence, keys: KeySet = TRUSTED, **options: Any) -> str:
    status, detail = _receipt_check(evidence, keys, **options)
    assert status is CheckStatus.FAILED, detail
    return detail


def _with_link(receipt: Receipt, **changes: Any) -> Receipt:
    return Receipt.from_json({**receipt.to_json(), "link": {**receipt.data["link"], **changes}})


@pytest.mark.parametrize("height", [0, 1, 2, 3])
def test_a_block_links_to_any_anchored_head_at_or_above_it(shard: Shard, height: int) -> None:
    receipt = linked_receipt(KIND, statement([(shard, 3)], ANCHORER), link(shard, height, 3, seq=7))
    status, detail = _receipt_check(_bundle(shard, height, receipt))
    assert status is CheckStatus.PASSED, detail
    assert detail.startswith(f"statement 7 signed by anchorer.example.com (id {ANCHORER.key_id.hex()})")
    assert "names shard 0 head 3 (tree size 17)" in detail
    assert detail.endswith("; stamped")
    assert (height == 3) == (receipt.data["link"]["consistency_proof"] == [])


def test_an_anchored_head_below_the_block_fails(shard: Shard) -> None:
    receipt = linked_receipt(KIND, statement([(shard, 1)], ANCHORER), link(shard, 1, 1))
    assert "below the bundle's block 3" in _fails(_bundle(shard, 3, receipt))


def test_a_link_of_another_shard_fails(shard: Shard) -> None:
    other = sealed_shard(SEALER, shard=1)
    note = statement([(shard, 3), (other, 3)], ANCHORER)
    assert "link header is of shard 1" in _fails(
        _bundle(shard, 1, linked_receipt(KIND, note, link(other, 1, 3)))
    )
    relabelled = _with_link(linked_receipt(KIND, note, link(shard, 1, 3)), shard=1)
    assert "link names block 1/3, its header is block 0/3" in _fails(_bundle(shard, 1, relabelled))
    moved = _with_link(linked_receipt(KIND, note, link(shard, 1, 3)), height=2)
    assert "link names block 0/2" in _fails(_bundle(shard, 1, moved))


def test_the_statement_must_name_exactly_the_linked_head(shard: Shard) -> None:
    older = linked_receipt(KIND, statement([(shard, 2)], ANCHORER), link(shard, 1, 3))
    assert "statement names head 2 hash" in _fails(_bundle(shard, 1, older))
    other = sealed_shard(SEALER, shard=1)
    elsewhere = linked_receipt(KIND, statement([(other, 3)], ANCHORER), link(shard, 1, 3))
    assert "statement names no head for shard 0" in _fails(_bundle(shard, 1, elsewhere))
    foreign = linked_receipt(KIND, statement([(shard, 3)], ANCHORER, "other.example/log"), link(shard, 1, 3))
    assert "statement origin 'other.example/log' is not the ledger" in _fails(_bundle(shard, 1, foreign))


def test_a_statement_signed_with_a_block_signing_key_is_refused(shard: Shard) -> None:
    forged = linked_receipt(KIND, statement([(shard, 3)], SEALER), link(shard, 1, 3))
    assert "no signature from a trusted key" in _fails(_bundle(shard, 1, forged))
    # The sealer's key under another name is still the sealer's key.
    alias = SigningKey.from_pem(SEALER.to_pem(), "anchorer.example.com")
    aliased = linked_receipt(KIND, statement([(shard, 3)], alias), link(shard, 1, 3))
    trusting_alias = KeySet.of([SEALER.verifier, alias.verifier])
    assert "no trusted key other than the block signer's" in _fails(
        _bundle(shard, 1, aliased), trusting_alias
    )
    # Trusting only the sealer leaves nobody who may sign statements: say what to add.
    honest = linked_receipt(KIND, statement([(shard, 3)], ANCHORER), link(shard, 1, 3))
    assert "add the anchorer's verifier key" in _fails(
        _bundle(shard, 1, honest), KeySet.of([SEALER.verifier])
    )


def test_explicit_anchorer_keys_are_the_only_statement_signers(shard: Shard) -> None:
    honest = _bundle(shard, 1, linked_receipt(KIND, statement([(shard, 3)], ANCHORER), link(shard, 1, 3)))
    sealer_only = KeySet.of([SEALER.verifier])
    assert _receipt_check(honest, sealer_only, anchorer_keys=[ANCHORER.verifier])[0] is CheckStatus.PASSED
    stranger = SigningKey.generate("anchorer.example.com")
    assert "no signature from a trusted key" in _fails(honest, anchorer_keys=[stranger.verifier])
    assert "no trusted key other than" in _fails(honest, anchorer_keys=[SEALER.verifier])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda proof: proof[:-1], "consistency proof"),
        (lambda proof: [*proof, proof[0]], "too long"),
        (lambda proof: [], "empty consistency proof"),
        (lambda proof: [proof[1], proof[0], *proof[2:]], "consistency proof gives"),
    ],
    ids=["too-short", "too-long", "empty", "reordered"],
)
def test_a_wrong_consistency_proof_fails(shard: Shard, change: Any, message: str) -> None:
    anchor_link = link(shard, 1, 3)
    assert len(anchor_link.consistency_proof) >= 2
    tampered = dataclasses.replace(
        anchor_link, consistency_proof=tuple(change(list(anchor_link.consistency_proof)))
    )
    receipt = linked_receipt(KIND, statement([(shard, 3)], ANCHORER), tampered)
    assert message in _fails(_bundle(shard, 1, receipt))


def test_a_proof_between_equal_sizes_must_be_empty(shard: Shard) -> None:
    same = dataclasses.replace(link(shard, 3, 3), consistency_proof=(b"\0" * 32,))
    receipt = linked_receipt(KIND, statement([(shard, 3)], ANCHORER), same)
    assert "sizes are equal (17) but the proof has 1 hashes" in _fails(_bundle(shard, 3, receipt))


def test_a_link_header_signed_by_an_untrusted_key_fails(shard: Shard) -> None:
    stranger = SigningKey.generate("ledger.example.com/log")
    anchor_link = link(shard, 1, 3)
    resigned = dataclasses.replace(anchor_link, signature=stranger.sign(b"provledger/block/v1\n"))
    receipt = linked_receipt(KIND, statement([(shard, 3)], ANCHORER), resigned)
    assert "block 0/3: signature does not verify" in _fails(_bundle(shard, 1, receipt))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"statement": 5}, "no string 'statement'"),
        ({"link": None}, "no 'link' object"),
        ({"link": {"seq": 1, "shard": 0, "height": -1}}, "link.height"),
        ({"link": {"seq": 1, "shard": 0, "height": 3, "consistency_proof": "AA=="}}, "not a list"),
    ],
)
def test_a_malformed_receipt_fails_with_the_field_named(
    shard: Shard, fields: dict[str, Any], message: str
) -> None:
    receipt = linked_receipt(KIND, statement([(shard, 3)], ANCHORER), link(shard, 1, 3))
    broken = Receipt.from_json({**receipt.to_json(), **fields})
    assert message in _fails(_bundle(shard, 1, broken))


def test_link_json_round_trips(shard: Shard) -> None:
    anchor_link = link(shard, 0, 3, seq=4)
    assert AnchorLink.from_json(anchor_link.to_json()) == anchor_link


def test_an_unanchored_bundle_fails_a_required_kind_and_says_when_to_fetch_it_again(shard: Shard) -> None:
    due = "2026-12-05T10:00:00+00:00"
    pending = dataclasses.replace(shard.evidence(0, SEALER), next_anchor_due=due)
    assert not pending.anchored
    assert Evidence.from_json(pending.to_json()) == pending
    result = verify_evidence(pending, TRUSTED, receipt_verifiers={KIND: stamped}, required_receipts=[KIND])
    policy = next(c for c in result.checks if c.name == "anchor-policy")
    assert policy.status is CheckStatus.FAILED
    assert f"not anchored yet (the next statement is due at {due}): fetch the bundle again" in policy.detail
    never = verify_evidence(shard.evidence(0, SEALER), TRUSTED, required_receipts=[KIND])
    assert "the anchorer has signed no statement yet" in never.failures()[0].detail
