"""Check RFC 3161 tokens against the operator's roots: the receipt format and its offline verifier.

A receipt of kind ``rfc3161`` is one JSON object per anchored statement, holding one token from
each TSA the anchorer asked (the anchorer adds ``type`` and ``link``)::

    {"type": "rfc3161",
     "statement": "<the signed shard-heads note, exactly as timestamped>",
     "responses": ["<base64 DER TimeStampResp>", ...],
     "link": {...}}

Every token's message imprint is SHA-256 over the UTF-8 bytes of ``statement``, and every token
must verify: a receipt is as strong as its weakest token, and any changed byte fails it. Trust
comes only from the roots given to :class:`Rfc3161ReceiptVerifier` (``provledger verify
--tsa-roots FILE``), never from a certificate inside a token or a bundle.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import rfc3161_client
from cryptography import x509
from rfc3161_client import PKIStatus, TimeStampResponse, VerifierBuilder, decode_timestamp_response

from provledger.anchor.rfc3161.settings import MAX_TSAS
from provledger.anchor.rfc3161.strict import canonical_response, check_certificates, check_token_form
from provledger.errors import ConfigurationError, VerificationError
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.keys import b64decode_strict

KIND: Final = "rfc3161"
SHA256_OID: Final = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
#: Largest TimeStampResp read from a TSA or a bundle. Public TSAs' tokens, certificate chain
#: included, are 1-8 KiB; a larger answer is refused before it is parsed.
MAX_RESPONSE_BYTES: Final = 64 << 10


@dataclass(frozen=True, slots=True)
class Timestamp:
    """What a verified token establishes: which TSA (its certificate's subject) saw the statement when."""

    tsa: str
    gen_time: datetime

    def describe(self) -> str:
        """``timestamped by <TSA subject> at <genTime ISO 8601>``."""
        return f"timestamped by {self.tsa} at {self.gen_time.isoformat()}"


def load_roots(path: Path) -> tuple[x509.Certificate, ...]:
    """The PEM certificates in ``path``, the only trust roots tokens are checked against."""
    try:
        roots = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"TSA roots file {path} is not a readable PEM certificate list: {exc}"
        ) from exc
    return roots


def check_response(
    der: bytes, statement: str, roots: Sequence[x509.Certificate], *, nonce: int | None = None
) -> Timestamp:
    """Check one stored DER TimeStampResp over ``statement``; ``nonce`` is the request's, when known.

    Raises :class:`VerificationError` naming the first check that fails: size, DER, the
    canonical envelope, nonce, imprint, certificate presence, then signature, chain to
    ``roots`` and EKU timeStamping (``rfc3161-client``, given the roots alone), then the one
    spelling of every unsigned field (:mod:`provledger.anchor.rfc3161.strict`).
    """
    if len(der) > MAX_RESPONSE_BYTES:
        raise VerificationError(f"TimeStampResp is {len(der)} bytes, more than {MAX_RESPONSE_BYTES}")
    with _library_errors():
        response = decode_timestamp_response(der)
        if der != canonical_response(response.time_stamp_token()):
            raise VerificationError("TimeStampResp is not {status granted, token} in its one DER spelling")
        return _check(response, statement, roots, nonce)


def accept_answer(answer: bytes, statement: str, roots: Sequence[x509.Certificate], nonce: int) -> bytes:
    """A TSA's answer to our query, checked, as the canonical response a receipt stores."""
    if len(answer) > MAX_RESPONSE_BYTES:
        raise VerificationError(f"TimeStampResp is {len(answer)} bytes, more than {MAX_RESPONSE_BYTES}")
    with _library_errors():
        response = decode_timestamp_response(answer)
        # SPEC RFC 3161 2.4.2: "When the status contains the value zero or one, a TimeStampToken
        # MUST be present. When status contains a value other than zero or one, a TimeStampToken
        # MUST NOT be present." We accept only granted (0): "with modifications" is not what we asked.
        if response.status != PKIStatus.GRANTED:
            reason = "; ".join(response.status_string) or "no reason given"
            raise VerificationError(f"TSA status is {response.status} ({reason}), not granted")
        canonical = canonical_response(response.time_stamp_token())
    check_response(canonical, statement, roots, nonce=nonce)
    return canonical


@contextlib.contextmanager
def _library_errors() -> Iterator[None]:
    """Turn what rfc3161-client and cryptography raise on a hostile token into VerificationError.

    Malformed DER and absent fields come as ValueError, an unknown string tag in a name as
    KeyError, a name attribute of the wrong type as TypeError, a bad certificate version as
    InvalidVersion; what cryptography only warns about (a negative serial, a country name of
    the wrong length) is made an error here. (Found by changing bytes of real tokens.)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    except (
        ValueError,
        KeyError,
        TypeError,
        x509.InvalidVersion,
        Warning,
        rfc3161_client.VerificationError,
    ) as exc:
        raise VerificationError(f"TimeStampResp does not verify: {exc!r}") from exc


def _check(
    response: TimeStampResponse, statement: str, roots: Sequence[x509.Certificate], nonce: int | None
) -> Timestamp:
    info = response.tst_info
    # SPEC RFC 3161 2.4.2: nonce "MUST be present if it was present in the TimeStampReq. In such
    # a case it MUST equal the value provided in the TimeStampReq structure."
    if nonce is not None and info.nonce != nonce:
        raise VerificationError(f"token nonce {info.nonce} is not the request's {nonce}")
    # SPEC RFC 3161 2.4.2: "The messageImprint MUST have the same value as the similar field in
    # TimeStampReq"; ours is always SHA-256 over the statement's UTF-8 bytes.
    try:
        digest = hashlib.sha256(statement.encode()).digest()
    except UnicodeEncodeError as exc:  # JSON can carry lone surrogates, which have no UTF-8 bytes
        raise VerificationError(f"the statement is not Unicode text: {exc}") from exc
    imprint = info.message_imprint
    if imprint.hash_algorithm != SHA256_OID or imprint.message != digest:
        raise VerificationError(
            f"token imprint {imprint.hash_algorithm.dotted_string}:{imprint.message.hex()} is not "
            f"SHA-256 of the statement ({digest.hex()})"
        )
    certificates = [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
    # SPEC RFC 3161 2.4.1: "If the certReq field is present and set to true, the TSA's public key
    # certificate that is referenced by the ESSCertID identifier inside a SigningCertificate
    # attribute in the response MUST be provided by the TSA in the certificates field".
    signers = [(s.issuer, s.serial_number) for s in response.signed_data.signer_infos]
    signer = next((c for c in certificates if (c.issuer, c.serial_number) in signers), None)
    if signer is None:
        raise VerificationError("the token does not carry its signer's certificate")
    # Only the operator's roots go in: rfc3161-client trusts whatever it is handed as "TSA
    # certificate" or "intermediate", so the certificates inside the token stay untrusted.
    VerifierBuilder(roots=list(roots)).build().verify(response, digest)
    check_certificates(certificates, roots)
    check_token_form(response.time_stamp_token(), signer)
    return Timestamp(signer.subject.rfc4514_string(), info.gen_time)


@dataclass(frozen=True)
class Rfc3161Receipt:
    """An ``rfc3161`` receipt's own fields: the statement and one DER TimeStampResp per TSA."""

    statement: str
    responses: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.statement:
            raise VerificationError("rfc3161 receipt has an empty statement")
        if not 1 <= len(self.responses) <= MAX_TSAS:
            raise VerificationError(
                f"rfc3161 receipt holds {len(self.responses)} tokens, not 1 to {MAX_TSAS}"
            )

    def to_json(self) -> dict[str, Any]:
        """The fields :meth:`AnchorKind.publish` returns (no ``type``, no ``link``)."""
        return {
            "statement": self.statement,
            "responses": [base64.b64encode(der).decode() for der in self.responses],
        }

    @classmethod
    def from_receipt(cls, receipt: Receipt) -> Rfc3161Receipt:
        """Read a receipt strictly: string statement, a list of canonical base64 strings."""
        statement, responses = receipt.data.get("statement"), receipt.data.get("responses")
        if receipt.type != KIND or not isinstance(statement, str) or not isinstance(responses, list):
            raise VerificationError("not an rfc3161 receipt with a string 'statement' and a list 'responses'")
        if not all(isinstance(text, str) for text in responses):
            raise VerificationError("rfc3161 receipt 'responses' has a non-string entry")
        return cls(statement, tuple(b64decode_strict(text, "rfc3161 receipt response") for text in responses))


class Rfc3161ReceiptVerifier:
    """A :class:`~provledger.ledger.evidence.ReceiptVerifier` for ``rfc3161`` receipts, under given roots.

    It checks every token against the receipt's statement, exactly as the receipt holds it. That
    the statement is signed by the anchorer and names a head extending the event's block is the
    link's check, which :func:`~provledger.ledger.evidence.verify_evidence` runs on every receipt
    before this one (:func:`provledger.ledger.anchoring.verify_link`), so no kind can skip it.
    """

    def __init__(self, roots: Sequence[x509.Certificate]) -> None:
        if not roots:
            raise ConfigurationError("no TSA roots given: rfc3161 receipts cannot be checked")
        self.roots = tuple(roots)

    @classmethod
    def from_roots_file(cls, path: Path) -> Rfc3161ReceiptVerifier:
        """The verifier for ``provledger verify --tsa-roots FILE``."""
        return cls(load_roots(path))

    def __call__(self, receipt: Receipt, evidence: Evidence, /) -> str:
        """Every token verifies over the statement; says who timestamped it when."""
        return self.check(receipt)

    def check(self, receipt: Receipt) -> str:
        """The same check without a bundle, for ``provledger audit`` over stored receipts."""
        fields = Rfc3161Receipt.from_receipt(receipt)
        return "; ".join(
            check_response(der, fields.statement, self.roots).describe() for der in fields.responses
        )
