"""rfc3161 receipts: a genuine token verifies, and any changed byte of token or statement fails."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rfc3161_client import HashAlgorithm

from provledger.anchor.rfc3161 import Rfc3161ReceiptVerifier
from provledger.anchor.rfc3161.settings import MAX_TSAS
from provledger.anchor.rfc3161.strict import canonical_response
from provledger.anchor.rfc3161.verify import (
    MAX_RESPONSE_BYTES,
    Rfc3161Receipt,
    accept_answer,
    check_response,
    load_roots,
)
from provledger.errors import ConfigurationError, VerificationError
from provledger.ledger.evidence import Receipt
from provledger.local.tsa import TsaFiles, openssl_reply

IssueToken = Callable[..., Awaitable[tuple[bytes, int]]]
STATEMENT = (
    "provledger.local/ledger/anchors\n7\nq0FbO9xPz3MZ1p3Hq3L2cY1F0JkP2r0bQm7o8VtGk1c=\n\n— anchorer AbCd\n"
)


@pytest.fixture(scope="module")
async def answered(issue_token: IssueToken, unit_tsa: TsaFiles) -> tuple[bytes, int]:
    """The TSA's answer to a query over STATEMENT, and the query's nonce."""
    return await issue_token(unit_tsa, STATEMENT)


@pytest.fixture(scope="module")
def stored(answered: tuple[bytes, int], unit_roots: tuple[x509.Certificate, ...]) -> bytes:
    """The answer accepted as the client accepts it: the canonical response a receipt stores."""
    answer, nonce = answered
    return accept_answer(answer, STATEMENT, unit_roots, nonce)


def _receipt(statement: str, *responses: bytes) -> Receipt:
    return Receipt.from_json({"type": "rfc3161", **Rfc3161Receipt(statement, responses).to_json()})


def test_a_genuine_receipt_says_who_timestamped_it_when(
    stored: bytes, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    detail = Rfc3161ReceiptVerifier(unit_roots).check(_receipt(STATEMENT, stored))
    stamp = check_response(stored, STATEMENT, unit_roots)
    assert detail == f"timestamped by CN=unit TSA at {stamp.gen_time.isoformat()}"
    assert stamp.gen_time.tzinfo is not None


def test_every_single_byte_change_of_the_response_fails(
    stored: bytes, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    for position in range(len(stored)):
        for mask in (0x01, 0x80):
            changed = bytearray(stored)
            changed[position] ^= mask
            with pytest.raises(VerificationError):
                check_response(bytes(changed), STATEMENT, unit_roots)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_byte_value_anywhere_in_the_response_fails(
    stored: bytes, unit_roots: tuple[x509.Certificate, ...], data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(stored) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != stored[position]), label="value")
    changed = bytearray(stored)
    changed[position] = value
    with pytest.raises(VerificationError):
        Rfc3161ReceiptVerifier(unit_roots).check(_receipt(STATEMENT, bytes(changed)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(1, 2000), insert=st.binary(min_size=1, max_size=40), junk=st.binary(max_size=200))
def test_truncated_spliced_or_random_bytes_raise_only_verification_error(
    stored: bytes, unit_roots: tuple[x509.Certificate, ...], cut: int, insert: bytes, junk: bytes
) -> None:
    for der in (stored[: cut % len(stored)], stored[:cut] + insert + stored[cut:], junk):
        with pytest.raises(VerificationError):
            check_response(der, STATEMENT, unit_roots)


def test_every_single_byte_change_of_the_statement_fails(
    stored: bytes, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    raw = STATEMENT.encode()
    for position in range(len(raw)):
        changed = bytearray(raw)
        changed[position] ^= 0x01
        statement = changed.decode(errors="surrogateescape")
        with pytest.raises(VerificationError, match="imprint"):
            check_response(stored, statement, unit_roots)


async def test_a_token_from_a_ca_not_in_the_roots_fails(
    issue_token: IssueToken, stranger_tsa: TsaFiles, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    answer, nonce = await issue_token(stranger_tsa, STATEMENT)
    with pytest.raises(VerificationError, match="unable to get local issuer certificate"):
        accept_answer(answer, STATEMENT, unit_roots, nonce)
    # ... and it verifies for whoever does trust that CA: the failure is the trust, not the token.
    assert accept_answer(answer, STATEMENT, load_roots(stranger_tsa.ca_cert), nonce)


async def test_an_answer_for_another_nonce_fails(
    issue_token: IssueToken, unit_tsa: TsaFiles, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    answer, nonce = await issue_token(unit_tsa, STATEMENT)
    with pytest.raises(VerificationError, match="nonce"):
        accept_answer(answer, STATEMENT, unit_roots, nonce + 1)


async def test_an_imprint_other_than_sha256_fails(
    issue_token: IssueToken, unit_tsa: TsaFiles, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    answer, nonce = await issue_token(unit_tsa, STATEMENT, HashAlgorithm.SHA512)
    with pytest.raises(VerificationError, match=r"imprint 2\.16\.840\.1\.101\.3\.4\.2\.3"):
        accept_answer(answer, STATEMENT, unit_roots, nonce)


async def test_a_rejection_fails_with_the_tsa_reason(
    unit_tsa: TsaFiles, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    rejection = await openssl_reply(unit_tsa, b"not a query")
    with pytest.raises(VerificationError, match=r"status is 2 \(Bad request format"):
        accept_answer(rejection, STATEMENT, unit_roots, 1)


def test_a_status_text_is_accepted_from_a_tsa_but_never_stored(
    answered: tuple[bytes, int], stored: bytes, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    assert stored[:2] == b"\x30\x82"  # a SEQUENCE with a two-byte length, then {granted}: 4 + 5 bytes
    token = stored[4 + 5 :]
    assert canonical_response(token) == stored
    status = bytes.fromhex("300902010030040c024f4b")  # {granted, {"OK"}}, as some TSAs write it
    answer = b"\x30\x82" + len(status + token).to_bytes(2, "big") + status + token
    with pytest.raises(VerificationError, match="one DER spelling"):
        check_response(answer, STATEMENT, unit_roots)
    assert accept_answer(answer, STATEMENT, unit_roots, answered[1]) == stored


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"statement": STATEMENT}, "list 'responses'"),
        ({"statement": 7, "responses": []}, "string 'statement'"),
        ({"statement": STATEMENT, "responses": [7]}, "non-string"),
        ({"statement": STATEMENT, "responses": ["AAA"]}, "not valid base64"),
        ({"statement": STATEMENT, "responses": ["AB=="]}, "not canonical base64"),
        ({"statement": STATEMENT, "responses": []}, "0 tokens"),
        ({"statement": STATEMENT, "responses": ["AA=="] * (MAX_TSAS + 1)}, f"{MAX_TSAS + 1} tokens"),
        ({"statement": "", "responses": ["AA=="]}, "empty statement"),
        ({"statement": STATEMENT, "responses": ["AA=="]}, "does not verify"),
        (
            {"statement": STATEMENT, "responses": [base64.b64encode(bytes(MAX_RESPONSE_BYTES + 1)).decode()]},
            "more than",
        ),
    ],
)
def test_a_malformed_receipt_fails_with_its_reason(
    fields: dict[str, Any], reason: str, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    with pytest.raises(VerificationError, match=reason):
        Rfc3161ReceiptVerifier(unit_roots).check(Receipt("rfc3161", fields))


def test_a_statement_with_a_lone_surrogate_fails(
    stored: bytes, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    """JSON may spell a lone surrogate ("\\ud800"); it has no UTF-8 bytes, so no imprint can match."""
    receipt = Receipt.from_json(json.loads('{"type": "rfc3161", "statement": "\\ud800", "responses": []}'))
    fields = {**receipt.data, "responses": [base64.b64encode(stored).decode()]}
    with pytest.raises(VerificationError, match="not Unicode text"):
        Rfc3161ReceiptVerifier(unit_roots).check(Receipt("rfc3161", fields))


def test_a_receipt_with_one_bad_token_among_good_ones_fails(
    stored: bytes, unit_roots: tuple[x509.Certificate, ...]
) -> None:
    verifier = Rfc3161ReceiptVerifier(unit_roots)
    assert verifier.check(_receipt(STATEMENT, stored, stored)).count("timestamped by") == 2
    with pytest.raises(VerificationError):
        verifier.check(_receipt(STATEMENT, stored, stored[:-1] + bytes([stored[-1] ^ 1])))


def test_no_roots_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no TSA roots"):
        Rfc3161ReceiptVerifier(())
    with pytest.raises(ConfigurationError, match="not a readable PEM"):
        Rfc3161ReceiptVerifier.from_roots_file(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ConfigurationError, match="not a readable PEM"):
        Rfc3161ReceiptVerifier.from_roots_file(tmp_path / "junk.pem")
