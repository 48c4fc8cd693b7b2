"""One spelling of every unsigned part of a timestamp token, so that any changed byte fails.

A TSA signs the TSTInfo (through the signed attributes) and a CA signs each certificate; the
envelope around them is signed by no one: the PKIStatusInfo, the SignedData and SignerInfo
versions, the digest and signature algorithm identifiers. OpenSSL's PKCS#7 check (what
``rfc3161-client`` runs) accepts many spellings of those, so a receipt could be changed without
failing. Issue 17 asks that a receipt fail after any single-byte change, so the anchorer stores
each token in one canonical envelope (:func:`canonical_response`) and the verifier accepts only
the spellings below (:func:`check_token_form`). Input has been parsed as DER by rfc3161-client
before it gets here; this module only reads the few fields that library does not expose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from provledger.errors import VerificationError

#: PKIStatusInfo ``{status granted}`` with no statusString and no failInfo: the only status a
#: stored response carries.
_GRANTED: Final = bytes.fromhex("3003020100")
_SEQUENCE, _SET, _INTEGER, _OCTET_STRING, _CONTEXT_0 = 0x30, 0x31, 0x02, 0x04, 0xA0
_NULL: Final = bytes.fromhex("0500")


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _oid(dotted: str) -> bytes:
    """The DER encoding of an OBJECT IDENTIFIER (X.690 8.19)."""
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    body = bytearray()
    for arc in (40 * first + second, *rest):
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return b"\x06" + _der_length(len(body)) + bytes(body)


def _algorithm(dotted: str, *, null_parameters: bool) -> bytes:
    """An AlgorithmIdentifier, its parameters absent or NULL."""
    body = _oid(dotted) + (_NULL if null_parameters else b"")
    return bytes([_SEQUENCE]) + _der_length(len(body)) + body


def _both(dotted: str) -> frozenset[bytes]:
    """Parameters absent and NULL: both are in use (RFC 5754 section 2) and differ in length."""
    return frozenset(_algorithm(dotted, null_parameters=null) for null in (False, True))


#: Digest name -> (digest AlgorithmIdentifier spellings, ECDSA and RSA signature OIDs for it).
_DIGESTS: Final = {
    "sha256": (_both("2.16.840.1.101.3.4.2.1"), "1.2.840.10045.4.3.2", "1.2.840.113549.1.1.11"),
    "sha384": (_both("2.16.840.1.101.3.4.2.2"), "1.2.840.10045.4.3.3", "1.2.840.113549.1.1.12"),
    "sha512": (_both("2.16.840.1.101.3.4.2.3"), "1.2.840.10045.4.3.4", "1.2.840.113549.1.1.13"),
}
_RSA_ENCRYPTION: Final = "1.2.840.113549.1.1.1"
_ED25519: Final = "1.3.101.112"


def canonical_response(token: bytes) -> bytes:
    """The TimeStampResp ``{granted, token}``: the one envelope a receipt stores a token in."""
    body = _GRANTED + token
    return bytes([_SEQUENCE]) + _der_length(len(body)) + body


@dataclass(frozen=True, slots=True)
class _Tlv:
    tag: int
    value: bytes
    encoded: bytes


def _elements(data: bytes) -> list[_Tlv]:
    """The TLVs concatenated in ``data`` (single-byte tags: all this module reads)."""
    elements, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise VerificationError("token DER ends inside a tag")
        tag, length, start = data[at], data[at + 1], at + 2
        if length & 0x80:
            count = length & 0x7F
            length, start = int.from_bytes(data[start : start + count], "big"), start + count
        end = start + length
        if end > len(data):
            raise VerificationError("token DER element runs past its parent")
        elements.append(_Tlv(tag, data[start:end], data[at:end]))
        at = end
    return elements


def _fields(element: _Tlv, what: str, tags: Sequence[int]) -> list[_Tlv]:
    """The children of a constructed ``element``, which MUST carry exactly ``tags`` in order."""
    children = _elements(element.value)
    if [child.tag for child in children] != list(tags):
        raise VerificationError(
            f"token {what} has fields {[hex(c.tag) for c in children]}, not {list(map(hex, tags))}"
        )
    return children


def _signature_algorithms(key: object, digest: str) -> frozenset[bytes]:
    """The signatureAlgorithm spellings for a signer key and digest.

    For RSA both rsaEncryption (what OpenSSL writes) and sha*WithRSAEncryption are in use, so a
    flip between those two names is not caught: it changes a label, not what was signed.
    """
    _, ecdsa, rsa_with_digest = _DIGESTS[digest]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return frozenset({_algorithm(ecdsa, null_parameters=False)})
    if isinstance(key, rsa.RSAPublicKey):
        return _both(_RSA_ENCRYPTION) | _both(rsa_with_digest)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return frozenset({_algorithm(_ED25519, null_parameters=False)})
    raise VerificationError(f"the TSA's key type {type(key).__name__} is not supported")


def check_token_form(token: bytes, signer: x509.Certificate) -> None:
    """Accept the token's unsigned SignedData fields only in their one valid spelling.

    SignedData version 3 (RFC 5652 5.1: eContentType is not id-data), certificates and no
    CRLs, one SignerInfo of version 1 (issuerAndSerialNumber) with signed and no unsigned
    attributes, a digestAlgorithms set holding exactly the signer's digest algorithm, and a
    signatureAlgorithm matching the signer's key and digest.
    """
    (content_info,) = _elements(token)
    _, explicit = _fields(content_info, "ContentInfo", [0x06, _CONTEXT_0])
    (signed_data,) = _fields(explicit, "content", [_SEQUENCE])
    version, digest_set, _, _, signer_infos = _fields(
        signed_data, "SignedData", [_INTEGER, _SET, _SEQUENCE, _CONTEXT_0, _SET]
    )
    (signer_info,) = _fields(signer_infos, "signerInfos", [_SEQUENCE])
    info_version, _, digest, _, signature, _ = _fields(
        signer_info, "SignerInfo", [_INTEGER, _SEQUENCE, _SEQUENCE, _CONTEXT_0, _SEQUENCE, _OCTET_STRING]
    )
    if (version.value, info_version.value) != (b"\x03", b"\x01"):
        raise VerificationError(
            f"token SignedData version {version.value.hex()} / SignerInfo version {info_version.value.hex()} "
            "are not 3 / 1"
        )
    names = [name for name, (spellings, _, _) in _DIGESTS.items() if digest.encoded in spellings]
    if not names:
        raise VerificationError(f"token digest algorithm {digest.encoded.hex()} is not SHA-2 as written")
    if digest_set.value != digest.encoded:
        raise VerificationError("token digestAlgorithms is not exactly the signer's digest algorithm")
    if signature.encoded not in _signature_algorithms(signer.public_key(), names[0]):
        raise VerificationError(
            f"token signature algorithm {signature.encoded.hex()} does not fit the signer"
        )


def check_certificates(certificates: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]) -> None:
    """Each certificate a token carries MUST be signed by another it carries or by a root.

    The chain check uses only the certificates on the path; this makes a changed byte in any
    other one fail too.
    """
    issuers = [*certificates, *roots]
    for certificate in certificates:
        if not any(_issued_by(certificate, issuer) for issuer in issuers):
            raise VerificationError(
                f"token certificate {certificate.subject.rfc4514_string()} is signed by no certificate "
                "in the token or the roots"
            )


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
