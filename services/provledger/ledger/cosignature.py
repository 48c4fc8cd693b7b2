"""C2SP tlog-cosignature, Ed25519 type 0x04: witnesses countersigning a checkpoint.

SPEC: C2SP tlog-cosignature: "The key ID for Ed25519 cosignatures MUST be computed
as SHA-256(<name> || "\\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]";
the signature is ``u64 timestamp || ed25519_signature[64]`` "with the timestamp
encoded in big-endian order"; "The signed message MUST be two newline (U+000A)
terminated lines (one header line and one timestamp line) followed by the whole
note body of the cosigned checkpoint", the header line being ``cosignature/v1``
and the timestamp line ``time <POSIX seconds>``.

    >>> cosigned_message(1679315147, b"example.com/log\\n1\\n" + b"A" * 43 + b"=\\n")[:31]
    b'cosignature/v1\\ntime 1679315147\\n'
"""

from __future__ import annotations

from typing import ClassVar, Final

from cryptography.exceptions import InvalidSignature

from provledger.errors import VerificationError
from provledger.ledger.keys import ED25519_SIGNATURE_SIZE, SigningKey, VerifierKey
from provledger.ledger.note import Note, NoteSignature, parse_note

#: Signature type byte of Ed25519 cosignatures. SPEC: C2SP signed-note "Signature types".
SIG_TYPE_COSIGNATURE: Final = 0x04
#: SPEC: the timestamp "MUST NOT exceed 2^63 - 1".
MAX_TIMESTAMP: Final = (1 << 63) - 1
_TIMESTAMP_SIZE: Final = 8


def cosigned_message(timestamp: int, text: bytes) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint note text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def cosignature_timestamp(signature: bytes) -> int:
    """The POSIX timestamp a cosignature (as in its signature line, after the key id) states."""
    if len(signature) != _TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
        raise VerificationError(f"an Ed25519 cosignature has 72 bytes, got {len(signature)}")
    timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
    if timestamp > MAX_TIMESTAMP:
        raise VerificationError(f"cosignature timestamp {timestamp} exceeds 2^63 - 1")
    return timestamp


class CosignatureVerifier(VerifierKey):
    """A witness's Ed25519 public key, verifying its type 0x04 cosignatures in a note."""

    signature_type: ClassVar[int] = SIG_TYPE_COSIGNATURE

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp || Ed25519) cosigns the note text ``message``."""
        try:
            timestamp = cosignature_timestamp(signature)
            self._key.verify(signature[_TIMESTAMP_SIZE:], cosigned_message(timestamp, message))
        except (VerificationError, InvalidSignature):
            return False
        return True


def cosigner(key: SigningKey) -> CosignatureVerifier:
    """The cosignature verifier of a witness key (same name and key, type 0x04 id)."""
    return CosignatureVerifier(key.name, key.verifier.public_key)


def cosignature(text: str, key: SigningKey, timestamp: int) -> NoteSignature:
    """``key``'s cosignature line at ``timestamp`` over the checkpoint note text ``text``.

    The witness MUST have verified the log's signature and the checkpoint's
    consistency with what it saw before; this only produces the signature line.
    """
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"cosignature timestamp {timestamp} is not between 0 and 2^63 - 1")
    signature = key.sign(cosigned_message(timestamp, text.encode()))
    return NoteSignature(
        key.name, cosigner(key).key_id, timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature
    )


def cosign(signed_note: str, key: SigningKey, timestamp: int) -> str:
    """Add ``key``'s cosignature at ``timestamp`` to a signed checkpoint note (see :func:`cosignature`)."""
    note = parse_note(signed_note)
    return Note(note.text, (*note.signatures, cosignature(note.text, key, timestamp))).to_text()
