"""C2SP tlog-witness on the wire: ``add-checkpoint`` bodies and answers, for the witness and its clients.

Pure formats, no I/O: the witness's handler parses requests with :func:`parse_add_checkpoint`;
a client (the anchorer's ``tlog-witness`` anchor kind) builds them with
:func:`format_add_checkpoint` and reads the answers with :func:`parse_cosignatures` (200) and
:func:`parse_size` (409)::

    >>> empty = "example.com/log\\n0\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n"
    >>> body = format_add_checkpoint(0, [], empty + "\\n\\u2014 example.com/log " + "A" * 96 + "\\n")
    >>> request = parse_add_checkpoint(body)
    >>> request.old_size, request.proof, request.checkpoint.size
    (0, (), 0)
    >>> parse_size(format_size(20852163))
    20852163

SPEC: C2SP tlog-witness, "add-checkpoint": "The request body MUST be a sequence of an old size
line, zero or more consistency proof lines, and an empty line, followed by a checkpoint. Each
line MUST terminate in a newline character (U+000A). The old size line MUST consist of the
string ``old``, a single space (0x20), and the tree size of the previous checkpoint encoded as
an ASCII decimal with no leading zeroes (unless the size is zero, in which case the encoding
MUST be ``0``). Each consistency proof line MUST encode a single hash in base64. The client
MUST NOT send more than 63 consistency proof lines."
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from provledger.errors import VerificationError
from provledger.ledger.checkpoint import Checkpoint
from provledger.ledger.hashing import HASH_SIZE, MAX_SIZE
from provledger.ledger.keys import b64decode_strict
from provledger.ledger.note import EM_DASH, Note, NoteSignature, parse_note

#: SPEC: "POST <submission prefix>/add-checkpoint".
ADD_CHECKPOINT_PATH: Final = "/add-checkpoint"
#: SPEC: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES: Final = 63
#: SPEC: the 409 answer "MUST have a Content-Type of text/x.tlog.size".
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
#: The spec names no type for the 200 answer (signature lines) or for refusals: plain UTF-8 text.
TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"

_OLD_LINE: Final = re.compile(rb"old (0|[1-9][0-9]{0,19})")
_SIZE_BODY: Final = re.compile(rb"(0|[1-9][0-9]{0,19})\n")


class MalformedRequest(ValueError):
    """An ``add-checkpoint`` body that is not what the spec says a body is (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` body: old size, proof hashes, and the checkpoint's note and body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: Note
    checkpoint: Checkpoint

    @property
    def signed_note(self) -> str:
        """The checkpoint note as submitted (text and every signature line)."""
        return self.note.to_text()


def origin_hash(origin: str) -> str:
    """SPEC: "The origin hash is the SHA-256 hash of the log's origin, hex encoded, in lowercase."."""
    return hashlib.sha256(origin.encode()).hexdigest()


def checkpoint_path(origin: str) -> str:
    """SPEC: a log's monitoring path, ``GET <monitoring prefix>/<origin hash>/checkpoint``."""
    return f"/{origin_hash(origin)}/checkpoint"


def _parse_size(line: bytes) -> int:
    match = _OLD_LINE.fullmatch(line)
    if match is None:
        raise MalformedRequest(
            f"the first line must be 'old <size>' (decimal, no leading zeroes), got {line[:40]!r}"
        )
    size = int(match[1])
    if size > MAX_SIZE:
        raise MalformedRequest(f"old size {size} is not a uint64")
    return size


def _parse_proof_line(number: int, line: bytes) -> bytes:
    try:
        node = b64decode_strict(line, f"consistency proof line {number}")
    except VerificationError as exc:
        raise MalformedRequest(str(exc)) from exc
    if len(node) != HASH_SIZE:
        raise MalformedRequest(f"consistency proof line {number} holds {len(node)} bytes, not a SHA-256 hash")
    return node


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` body strictly; raise :class:`MalformedRequest` for anything else.

    Only the syntax is checked here: the checkpoint note's signatures are verified by the
    witness against the keys it trusts for the origin, after it knows the origin.
    """
    # The size and proof lines are never empty, so the first empty line ends them.
    header, sep, note_bytes = body.partition(b"\n\n")
    if not sep:
        raise MalformedRequest("no empty line after the old size and consistency proof lines")
    lines = header.split(b"\n")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise MalformedRequest(f"{len(lines) - 1} consistency proof lines, more than {MAX_PROOF_LINES}")
    old_size = _parse_size(lines[0])
    proof = tuple(_parse_proof_line(number, line) for number, line in enumerate(lines[1:], 1))
    try:
        note = parse_note(note_bytes)
        checkpoint = Checkpoint.parse(note.text)
    except VerificationError as exc:
        raise MalformedRequest(f"the checkpoint is not a signed tlog checkpoint: {exc}") from exc
    return AddCheckpointRequest(old_size, proof, note, checkpoint)


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], signed_checkpoint: str) -> bytes:
    """The ``add-checkpoint`` body a client sends: ``old <size>``, proof lines, an empty line, the note."""
    if not 0 <= old_size <= MAX_SIZE:
        raise ValueError(f"old size {old_size} is not a uint64")
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"{len(proof)} consistency proof hashes, more than {MAX_PROOF_LINES}")
    lines = [f"old {old_size}\n"]
    for node in proof:
        if len(node) != HASH_SIZE:
            raise ValueError(f"a proof hash has {len(node)} bytes, not {HASH_SIZE}")
        lines.append(base64.b64encode(node).decode() + "\n")
    return ("".join(lines) + "\n" + signed_checkpoint).encode()


def format_cosignatures(signatures: Sequence[NoteSignature]) -> bytes:
    """SPEC: the 200 body "MUST be a sequence of one or more note signature lines, each starting
    with the — character (U+2014) and ending with a newline character (U+000A)"."""
    if not signatures:
        raise ValueError("a cosignature answer has at least one signature line")
    return "".join(signature.line() for signature in signatures).encode()


def parse_cosignatures(body: bytes, checkpoint_text: str) -> tuple[NoteSignature, ...]:
    """The signature lines of a 200 answer, checked only for syntax (verify them as a note).

    SPEC: "To parse the response, the client MAY concatenate it to the checkpoint, and use a
    note verification function configured with the witness keys it trusts." This does the
    concatenation and the parse; :func:`provledger.ledger.note.open_note` does the verifying.
    """
    if not body.startswith(EM_DASH.encode()):
        raise VerificationError("a cosignature answer must be signature lines starting with U+2014")
    return parse_note(checkpoint_text.encode() + b"\n" + body).signatures


def format_size(size: int) -> bytes:
    """SPEC: the 409 body "MUST consist of the tree size of the latest cosigned checkpoint in
    decimal, followed by a newline (U+000A)"."""
    return b"%d\n" % size


def parse_size(body: bytes) -> int:
    """The witness's size in a 409 answer (``text/x.tlog.size``)."""
    match = _SIZE_BODY.fullmatch(body)
    if match is None or int(match[1]) > MAX_SIZE:
        raise VerificationError(f"a text/x.tlog.size body is a decimal size and a newline, got {body[:40]!r}")
    return int(match[1])
