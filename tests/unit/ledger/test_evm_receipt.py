"""evm receipts offline: a real anvil receipt verifies, and no single changed byte of it does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from provledger.errors import VerificationError
from provledger.ledger.evm_receipt import (
    ANCHOR_SELECTOR,
    ANCHORED_TOPIC,
    EvmReceipt,
    anchor_calldata,
    check_evm_receipt,
    header_number_and_receipts_root,
)

FIXTURE = json.loads((Path(__file__).parent / "evm_vectors" / "anvil_receipt.json").read_text())
STATEMENT: str = FIXTURE["statement"]
SEQ: int = FIXTURE["seq"]


def _receipt(**changes: Any) -> EvmReceipt:
    return dataclasses.replace(EvmReceipt.from_fields(FIXTURE["fields"]), **changes)


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_the_anvil_receipt_verifies() -> None:
    detail = check_evm_receipt(_receipt(), STATEMENT, SEQ)
    assert f"statement {SEQ} logged by {FIXTURE['fields']['submitter']}" in detail
    assert EvmReceipt.from_fields(FIXTURE["fields"]).to_json() == FIXTURE["fields"]


def test_every_changed_byte_of_the_header_fails() -> None:
    header = _receipt().header_rlp
    for at in range(len(header)):
        with pytest.raises(VerificationError):
            check_evm_receipt(_receipt(header_rlp=_flipped(header, at)), STATEMENT, SEQ)


def test_every_changed_byte_of_the_proof_fails() -> None:
    proof = _receipt().receipt_proof
    for node, encoded in enumerate(proof):
        for at in range(len(encoded)):
            tampered = (*proof[:node], _flipped(encoded, at), *proof[node + 1 :])
            with pytest.raises(VerificationError):
                check_evm_receipt(_receipt(receipt_proof=tampered), STATEMENT, SEQ)


@pytest.mark.parametrize("field", ["contract", "submitter", "block_hash"])
def test_every_changed_byte_of_a_proven_field_fails(field: str) -> None:
    value = getattr(_receipt(), field)
    for at in range(len(value)):
        with pytest.raises(VerificationError):
            check_evm_receipt(_receipt(**{field: _flipped(value, at)}), STATEMENT, SEQ)


def test_another_block_number_index_or_log_fails() -> None:
    receipt = _receipt()
    for changed in (
        _receipt(block_number=receipt.block_number + 1),
        _receipt(receipt_index=receipt.receipt_index + 1),
        _receipt(log_index=1),
    ):
        with pytest.raises(VerificationError):
            check_evm_receipt(changed, STATEMENT, SEQ)


def test_every_changed_byte_of_the_statement_or_another_seq_fails() -> None:
    encoded = STATEMENT.encode()
    for at in range(len(encoded)):
        changed = _flipped(encoded, at).decode(errors="replace")
        with pytest.raises(VerificationError):
            check_evm_receipt(_receipt(), changed, SEQ)
    with pytest.raises(VerificationError, match="topics"):
        check_evm_receipt(_receipt(), STATEMENT, SEQ + 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("chain_id", 0),
        ("chain_id", True),
        ("block_number", -1),
        ("block_number", 2**64),
        ("log_index", "0"),
        ("contract", "0xABCDEF"),
        ("contract", "0x" + "ab" * 19),
        ("submitter", "ab" * 20),
        ("tx_hash", "0x" + "a" * 63),
        ("header_rlp", "0x" + "00" * (9 << 10)),
        ("receipt_proof", []),
        ("receipt_proof", "0x00"),
        ("receipt_proof", ["0x00"] * 65),
        ("receipt_proof", [1]),
    ],
)
def test_malformed_fields_are_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(VerificationError, match=field.split("_")[0]):
        EvmReceipt.from_fields({**FIXTURE["fields"], field: value})


def test_the_header_and_call_formats() -> None:
    number, _ = header_number_and_receipts_root(_receipt().header_rlp)
    assert number == FIXTURE["fields"]["block_number"]
    # Published selectors: keccak256("anchor(bytes32,uint64,bytes32)")[:4] and the event topic,
    # both also in the committed ABI (tests/unit/anchor/test_evm_contract.py).
    calldata = anchor_calldata(STATEMENT, SEQ)
    assert calldata[:4] == ANCHOR_SELECTOR
    assert len(calldata) == 4 + 3 * 32
    assert int.from_bytes(calldata[36:68], "big") == SEQ
    assert len(ANCHORED_TOPIC) == 32
