"""Ed25519 keys with C2SP names and key ids, and the trusted key set used for rotation.

A key has a name (a schema-less URL such as ``ledger.example.com/log``) and a
4-byte key id, so blocks and signed notes can say which key signed them::

    >>> from provledger.ledger.keys import KeySet, SigningKey, TrustedKey, VerifierKey
    >>> key = SigningKey.generate("ledger.example.com/log")
    >>> vkey = key.verifier.verifier_key_string()
    >>> VerifierKey.parse(vkey) == key.verifier
    True
    >>> trusted = KeySet((TrustedKey(key.verifier, valid_from=0),))
    >>> trusted.verify(b"msg", key.sign(b"msg"), key.key_id, at=1).verifier.name
    'ledger.example.com/log'

SPEC: C2SP signed-note: "key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte
Ed25519 public key)[:4]"; "Key names MUST be non-empty and MUST NOT contain any
Unicode spaces or plus (U+002B) characters". A verifier key string is
``<name>+<hex(key id)>+<base64(type || public key)>``, as golang.org/x/mod/sumdb/note
writes it.

Rotation: each :class:`TrustedKey` is valid for headers whose ``sealed_at`` lies in
``[valid_from, valid_until)`` (microseconds since the Unix epoch, ``None`` for no
end). Time, not block height, because heights are per shard while a key is rotated
once for the whole ledger; a retired key stays in the set with its end time so old
blocks still verify, and it cannot sign a block sealed after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provledger.errors import VerificationError

#: Signature type byte of plain Ed25519 note signatures. SPEC: C2SP signed-note "Signature types".
SIG_TYPE_ED25519: Final = 0x01
#: Bytes in an Ed25519 public key, seed and signature.
ED25519_KEY_SIZE: Final = 32
ED25519_SIGNATURE_SIZE: Final = 64
#: Bytes in a key id.
KEY_ID_SIZE: Final = 4


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid C2SP key name, else raise ``ValueError``."""
    if not name or "+" in name or any(c.isspace() or ord(c) < 0x20 for c in name):
        raise ValueError(f"key name {name!r} must be non-empty, without spaces, '+' or control characters")
    return name


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """The 4-byte C2SP key id: SHA-256(name || "\\n" || type || public key)[:4]."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()
    return digest[:KEY_ID_SIZE]


def b64decode_strict(text: str | bytes, what: str) -> bytes:
    """Standard base64 with padding, rejecting any non-canonical spelling of the same bytes."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{what} is not valid base64: {exc}") from exc
    canonical = base64.b64encode(data)
    if canonical != (text.encode() if isinstance(text, str) else text):
        raise VerificationError(f"{what} is not canonical base64")
    return data


def format_verifier_key(name: str, signature_type: int, public_key: bytes) -> str:
    """``<name>+<hex key id>+<base64(type || public key)>``."""
    kid = key_id(check_key_name(name), signature_type, public_key)
    material = base64.b64encode(bytes([signature_type]) + public_key).decode()
    return f"{name}+{kid.hex()}+{material}"


def parse_verifier_key(text: str, signature_type: int) -> tuple[str, bytes]:
    """``(name, public key)`` of a verifier key string of the given signature type.

    Rejects a wrong type, a public key that is not 32 bytes, and a key id that does
    not match the one derived from the name and key (as Go's ``note.NewVerifier``).
    """
    name, sep1, rest = text.partition("+")
    hex_id, sep2, material_text = rest.partition("+")
    if not sep1 or not sep2:
        raise VerificationError(f"verifier key {text!r} is not <name>+<key id>+<key>")
    try:
        check_key_name(name)
    except ValueError as exc:
        raise VerificationError(f"verifier key has an invalid name: {exc}") from exc
    if len(hex_id) != 2 * KEY_ID_SIZE or hex_id != hex_id.lower():
        raise VerificationError(f"verifier key id {hex_id!r} is not 8 lowercase hex digits")
    material = b64decode_strict(material_text, "verifier key material")
    if not material or material[0] != signature_type:
        raise VerificationError(f"verifier key {name!r} is not of signature type 0x{signature_type:02x}")
    public_key = material[1:]
    if len(public_key) != ED25519_KEY_SIZE:
        raise VerificationError(f"verifier key {name!r} holds {len(public_key)} key bytes, not 32")
    if key_id(name, signature_type, public_key).hex() != hex_id:
        raise VerificationError(f"verifier key {name!r} states key id {hex_id}, its key derives another")
    return name, public_key


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 public key with its C2SP name; verifies blocks and signed notes.

    Subclasses change :attr:`signature_type` (and so the key id) for other
    Ed25519 signature types, such as witness cosignatures.
    """

    #: The C2SP signature type byte this key verifies.
    signature_type: ClassVar[int] = SIG_TYPE_ED25519

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != ED25519_KEY_SIZE:
            raise ValueError(f"an Ed25519 public key has 32 bytes, got {len(self.public_key)}")
        object.__setattr__(self, "key_id", key_id(self.name, self.signature_type, self.public_key))
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def parse(cls, text: str) -> Self:
        """The key of a C2SP verifier key string ``name+hex(keyid)+base64(type||pubkey)``."""
        return cls(*parse_verifier_key(text, cls.signature_type))

    @classmethod
    def from_pem(cls, data: bytes, name: str) -> Self:
        """Load a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) that must hold an Ed25519 key."""
        loaded = serialization.load_pem_public_key(data)
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError(f"PEM public key for {name!r} is {type(loaded).__name__}, not Ed25519")
        return cls(name, loaded.public_bytes_raw())

    def to_pem(self) -> bytes:
        """The key as a PEM ``PUBLIC KEY``."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verifier_key_string(self) -> str:
        """``name+hex(keyid)+base64(type||pubkey)``, the form golang.org/x/mod/sumdb/note reads."""
        return format_verifier_key(self.name, self.signature_type, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, eq=False)
class SigningKey:
    """An Ed25519 private key with its C2SP name. Never logged: ``repr`` shows only the name."""

    name: str
    _private: Ed25519PrivateKey = field(repr=False)
    verifier: VerifierKey = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "verifier", VerifierKey(self.name, self._private.public_key().public_bytes_raw())
        )

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        """A fresh random key."""
        return cls(check_key_name(name), Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> SigningKey:
        """The key of a 32-byte RFC 8032 seed (the private key bytes)."""
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, data: bytes, name: str) -> SigningKey:
        """Load an unencrypted PEM ``PRIVATE KEY`` (PKCS#8) that must hold an Ed25519 key."""
        loaded = serialization.load_pem_private_key(data, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"PEM private key for {name!r} is {type(loaded).__name__}, not Ed25519")
        return cls(name, loaded)

    def to_pem(self) -> bytes:
        """The key as an unencrypted PKCS#8 PEM, for a file only its service can read."""
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def key_id(self) -> bytes:
        """The 4-byte C2SP key id of the Ed25519 (type 0x01) verifier key."""
        return self.verifier.key_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``; callers domain-separate it first."""
        return self._private.sign(message)


@dataclass(frozen=True)
class TrustedKey:
    """A verifier key and the ``sealed_at`` times it may sign for: ``[valid_from, valid_until)``."""

    verifier: VerifierKey
    valid_from: int = 0
    valid_until: int | None = None

    def __post_init__(self) -> None:
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError(
                f"key {self.verifier.name!r} is valid until {self.valid_until}, not after its start"
            )

    def valid_at(self, at: int) -> bool:
        """Whether the key may sign a block sealed at ``at`` (microseconds since the epoch)."""
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def describe(self) -> str:
        """``name (id hex) valid [from, until)`` for error messages."""
        until = "open" if self.valid_until is None else str(self.valid_until)
        return f"{self.verifier.name} (id {self.verifier.key_id.hex()}) valid [{self.valid_from}, {until})"


@dataclass(frozen=True)
class KeySet:
    """The keys a verifier trusts, with validity ranges. Fails closed: it is never empty."""

    keys: tuple[TrustedKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise VerificationError(
                "the trusted key set is empty: nothing can verify; configure at least one key"
            )

    @classmethod
    def of(cls, verifiers: Iterable[VerifierKey]) -> KeySet:
        """Trust each key at all times (a single-key ledger, or checkpoints only)."""
        return cls(tuple(TrustedKey(v) for v in verifiers))

    @classmethod
    def from_json(cls, entries: Iterable[Mapping[str, object]]) -> KeySet:
        """Read ``[{"key": <verifier key string>, "valid_from": int, "valid_until": int | null}]``."""
        keys = []
        for entry in entries:
            text, start, end = entry.get("key"), entry.get("valid_from", 0), entry.get("valid_until")
            if not isinstance(text, str) or type(start) is not int or not (end is None or type(end) is int):
                raise VerificationError(
                    f"key set entry {dict(entry)!r} is not {{key, valid_from, valid_until}}"
                )
            try:
                keys.append(TrustedKey(VerifierKey.parse(text), start, end))
            except ValueError as exc:
                raise VerificationError(f"key set entry {text!r}: {exc}") from exc
        return cls(tuple(keys))

    def to_json(self) -> list[dict[str, object]]:
        """The inverse of :meth:`from_json`, as the API serves the key set."""
        return [
            {
                "key": k.verifier.verifier_key_string(),
                "valid_from": k.valid_from,
                "valid_until": k.valid_until,
            }
            for k in self.keys
        ]

    def verifiers(self) -> tuple[VerifierKey, ...]:
        """Each distinct verifier key once, for signed notes (which carry no time)."""
        return tuple(dict.fromkeys(k.verifier for k in self.keys))

    def verify(self, message: bytes, signature: bytes, key_id: bytes, at: int) -> TrustedKey:
        """The trusted key with ``key_id``, valid at ``at``, whose signature ``signature`` is.

        Raises :class:`VerificationError` saying whether no key has that id, the
        keys that have it are not valid at ``at``, or the signature does not verify.
        """
        named = [k for k in self.keys if k.verifier.key_id == key_id]
        if not named:
            raise VerificationError(f"no trusted key has key id {key_id.hex()}")
        valid = [k for k in named if k.valid_at(at)]
        if not valid:
            described = "; ".join(k.describe() for k in named)
            raise VerificationError(f"key id {key_id.hex()} is not valid at {at}: {described}")
        for key in valid:
            if key.verifier.verify(message, signature):
                return key
        raise VerificationError(f"signature does not verify under {'; '.join(k.describe() for k in valid)}")
