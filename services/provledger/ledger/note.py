"""C2SP signed notes: text signed by one or more named keys.

A note is its text, a blank line, then one line per signature (here cut short)::

    This is an example message.

    — example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3...

SPEC: C2SP signed-note, "Format": "A signed note consists of a text ending in
newline (U+000A), followed by a blank line (only a newline), followed by one or
more signature lines of this form: em dash (U+2014), space (U+0020), key name,
space, base64-encoded signature, newline." "Signed notes MUST be valid UTF-8 and
MUST NOT contain any ASCII control characters (those below U+0020) other than
newline." "The note text includes the final newline but not the separating blank
line [...] the text is separated from the signatures by the last empty line."

Verification, SPEC "Signatures": "Verifiers MUST ignore signatures from unknown
keys [...] If the key name and ID match a known key, verifiers MUST verify the
signature. If a signature from a known key fails to verify, clients SHOULD reject
the whole note. If no signature from a known key verifies successfully, clients
MUST reject the note." :func:`open_note` does all of that.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from provledger.errors import VerificationError
from provledger.ledger.keys import KEY_ID_SIZE, b64decode_strict, check_key_name

EM_DASH: Final = "\u2014"
#: SPEC: verifiers "MUST accept at least up to 16 signatures"; Go's note package accepts 100.
MAX_SIGNATURES: Final = 100


class NoteSigner(Protocol):
    """What signs a note: a name, its key id and the signature algorithm."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class NoteVerifier(Protocol):
    """What verifies one signature line of a note, identified by name and key id."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key id, and the signature bytes after the id."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, with its final newline."""
        payload = base64.b64encode(self.key_id + self.signature).decode()
        return f"{EM_DASH} {self.name} {payload}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed note: its text (ending in a newline) and every signature line, known or not."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_text(self) -> str:
        """The signed note as it travels."""
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note that verified, and which of its signatures were from known keys."""

    note: Note
    verified: tuple[NoteSignature, ...]

    @property
    def text(self) -> str:
        """The note text: trust it only through an :class:`OpenedNote`."""
        return self.note.text


def check_text(text: str) -> None:
    """Reject text that cannot be the text of a note (SPEC: ends in newline, no control chars)."""
    if not text.endswith("\n"):
        raise VerificationError("note text must end with a newline")
    for char in text:
        if char < " " and char != "\n":
            raise VerificationError(f"note contains the control character U+{ord(char):04X}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise VerificationError(f"note is not valid UTF-8: {exc}") from exc


def _parse_signature_line(line: str) -> NoteSignature:
    prefix = EM_DASH + " "
    if not line.startswith(prefix):
        raise VerificationError(f"note signature line {line!r} does not start with an em dash and a space")
    name, sep, payload_text = line[len(prefix) :].partition(" ")
    if not sep:
        raise VerificationError(f"note signature line {line!r} is not '— <name> <signature>'")
    try:
        check_key_name(name)
    except ValueError as exc:
        raise VerificationError(f"note signature line has an invalid key name: {exc}") from exc
    payload = b64decode_strict(payload_text, f"signature of {name!r}")
    if len(payload) <= KEY_ID_SIZE:
        raise VerificationError(
            f"signature of {name!r} has {len(payload)} bytes, too short for id and signature"
        )
    return NoteSignature(name, payload[:KEY_ID_SIZE], payload[KEY_ID_SIZE:])


def parse_note(data: str | bytes) -> Note:
    """Split a signed note into text and signature lines, checking only its syntax."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VerificationError(f"note is not valid UTF-8: {exc}") from exc
    check_text(data)
    split = data.rfind("\n\n")
    if split < 0:
        raise VerificationError("note has no blank line before its signatures")
    text, block = data[: split + 1], data[split + 2 :]
    if not block:
        raise VerificationError("note has no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationError(f"note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def sign_note(text: str, signers: Sequence[NoteSigner], existing: Iterable[NoteSignature] = ()) -> str:
    """Sign ``text`` with each signer, after any ``existing`` signature lines."""
    check_text(text)
    if not signers:
        raise ValueError("a note needs at least one signer")
    message = text.encode()
    added = [NoteSignature(check_key_name(s.name), s.key_id, s.sign(message)) for s in signers]
    return Note(text, (*existing, *added)).to_text()


def open_note(data: str | bytes, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Parse and verify a note against the known ``verifiers``.

    A signature line is from a known key when both its name and key id match a
    verifier; other lines are ignored. Every known signature MUST verify, and at
    least one known signature MUST be present.
    """
    known = {(v.name, v.key_id): v for v in verifiers}
    if not known:
        raise VerificationError("no trusted note verifiers: refusing to open any note (fail closed)")
    note = parse_note(data)
    message = note.text.encode()
    verified: list[NoteSignature] = []
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, signature.signature):
            raise VerificationError(
                f"note signature by {signature.name} (id {signature.key_id.hex()}) does not verify"
            )
        verified.append(signature)
    if not verified:
        names = ", ".join(f"{n} ({k.hex()})" for n, k in known) or "none"
        raise VerificationError(f"note has no signature from a trusted key; trusted: {names}")
    return OpenedNote(note, tuple(verified))
