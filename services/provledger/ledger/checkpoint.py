"""C2SP tlog-checkpoint bodies: per-shard tree heads and the anchorer's shard-heads statement.

SPEC: C2SP tlog-checkpoint, "Note text": "The first line is the origin [...]
The second line is the tree size, the ASCII decimal representation of the number
of leaves in the tree, with no leading zeroes [...] The third line is the root
hash, the base64 encoding of the root of the [RFC 6962] Merkle hash tree at the
specified tree size. Any following lines are extension lines, opaque and
OPTIONAL. Extension lines, if any, MUST be non-empty."

provledger writes two kinds, both plain :class:`Checkpoint` values in signed notes:

* **Shard checkpoint**: origin ``<log origin>/shard/<n>``, size = the shard's
  ``tree_size``, root = its ``log_root``, no extension lines. It is an ordinary
  append-only tlog checkpoint: consistency proofs and witnesses work on it.
* **Shard-heads checkpoint** (ARCHITECTURE section 3): origin ``<log origin>``,
  size = number of shards, root = RFC 9162 root over ``leaf_hash`` of each shard
  head's fixed encoding (:meth:`ShardHead.leaf_bytes`) sorted by shard, and one
  extension line per head, ``shard <n> <height> <base64 block_hash>``, in the
  same order. One hash thus commits to every shard, for anchoring. Its leaves are
  replaced as shards advance, so successive heads checkpoints are *not*
  append-only: witnesses checking consistency cosign shard checkpoints, not this.

    >>> from provledger.ledger.checkpoint import Checkpoint
    >>> Checkpoint.parse("example.com/log\\n2\\n" + "A" * 43 + "=\\n").size
    2
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from provledger.errors import VerificationError
from provledger.ledger.block import BlockHeader
from provledger.ledger.hashing import HASH_SIZE, MAX_SIZE
from provledger.ledger.keys import b64decode_strict
from provledger.ledger.merkle import leaf_hash, root
from provledger.ledger.note import NoteSigner, NoteVerifier, check_text, open_note, sign_note

_SIZE_RE: Final = re.compile(r"0|[1-9][0-9]*")
_HEAD_LINE_RE: Final = re.compile(r"shard (0|[1-9][0-9]*) (0|[1-9][0-9]*) (\S+)")
#: Fixed encoding of a shard head leaf: magic, version, shard, height, block hash.
_HEAD_LEAF: Final = struct.Struct(">4sBIQ32s")
_HEAD_MAGIC: Final = b"PLSH"
_HEAD_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The body of a tlog checkpoint: origin, tree size, root hash and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise ValueError(f"checkpoint origin {self.origin!r} must be one non-empty line")
        if not 0 <= self.size <= MAX_SIZE:
            raise ValueError(f"checkpoint size {self.size} is not a uint64")
        if len(self.root) != HASH_SIZE:
            raise ValueError(f"checkpoint root has {len(self.root)} bytes, not {HASH_SIZE}")
        for line in self.extensions:
            if not line or "\n" in line:
                raise ValueError(f"checkpoint extension line {line!r} must be one non-empty line")

    def to_text(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text strictly; raise :class:`VerificationError` if malformed."""
        check_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationError(f"a checkpoint has at least 3 lines, got {len(lines)}")
        origin, size_text, root_text, *extensions = lines
        if not _SIZE_RE.fullmatch(size_text):
            raise VerificationError(f"checkpoint size {size_text!r} is not a decimal without leading zeroes")
        root_hash = b64decode_strict(root_text, "checkpoint root")
        try:
            return cls(origin, int(size_text), root_hash, tuple(extensions))
        except ValueError as exc:
            raise VerificationError(f"invalid checkpoint: {exc}") from exc


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> str:
    """The checkpoint as a signed note."""
    return sign_note(checkpoint.to_text(), signers)


def open_checkpoint(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Checkpoint:
    """Verify a signed checkpoint note (see :func:`~provledger.ledger.note.open_note`) and parse it."""
    return Checkpoint.parse(open_note(note, verifiers).text)


def shard_origin(log_origin: str, shard: int) -> str:
    """The origin of one shard's log: ``<log origin>/shard/<n>``."""
    return f"{log_origin}/shard/{shard}"


def shard_checkpoint(log_origin: str, header: BlockHeader) -> Checkpoint:
    """The tlog checkpoint of the header's shard log after that block."""
    return Checkpoint(shard_origin(log_origin, header.shard), header.tree_size, header.log_root)


@dataclass(frozen=True, slots=True)
class ShardHead:
    """The newest block of one shard, as the anchorer saw it."""

    shard: int
    height: int
    block_hash: bytes

    def leaf_bytes(self) -> bytes:
        """``PLSH`` || version 1 || uint32 shard || uint64 height || block hash (49 bytes, big-endian)."""
        return _HEAD_LEAF.pack(_HEAD_MAGIC, _HEAD_VERSION, self.shard, self.height, self.block_hash)

    def extension_line(self) -> str:
        """``shard <n> <height> <base64 block_hash>``."""
        return f"shard {self.shard} {self.height} {base64.b64encode(self.block_hash).decode()}"

    @classmethod
    def parse_line(cls, line: str) -> ShardHead:
        """The head an extension line names; raise :class:`VerificationError` for any other line."""
        match = _HEAD_LINE_RE.fullmatch(line)
        if match is None:
            raise VerificationError(f"checkpoint extension line {line!r} is not 'shard <n> <height> <hash>'")
        block = b64decode_strict(match[3], "shard head block hash")
        if len(block) != HASH_SIZE:
            raise VerificationError(f"shard head block hash has {len(block)} bytes, not {HASH_SIZE}")
        return cls(int(match[1]), int(match[2]), block)


def heads_root(heads: Sequence[ShardHead]) -> bytes:
    """The RFC 9162 root over the heads' leaf encodings, in the order given."""
    return root([leaf_hash(head.leaf_bytes()) for head in heads])


def heads_checkpoint(log_origin: str, heads: Iterable[ShardHead]) -> Checkpoint:
    """The shard-heads checkpoint over one head per shard, sorted by shard."""
    ordered = sorted(heads, key=lambda head: head.shard)
    for before, after in pairwise(ordered):
        if before.shard == after.shard:
            raise ValueError(f"two heads for shard {before.shard}")
    return Checkpoint(
        log_origin, len(ordered), heads_root(ordered), tuple(h.extension_line() for h in ordered)
    )


def shard_heads(checkpoint: Checkpoint) -> tuple[ShardHead, ...]:
    """The heads a shard-heads checkpoint names, after checking they make its size and root."""
    heads = tuple(ShardHead.parse_line(line) for line in checkpoint.extensions)
    shards = [head.shard for head in heads]
    if shards != sorted(set(shards)):
        raise VerificationError("shard head lines are not in strictly increasing shard order")
    if len(heads) != checkpoint.size:
        raise VerificationError(f"checkpoint size {checkpoint.size} but {len(heads)} shard head lines")
    if heads_root(heads) != checkpoint.root:
        raise VerificationError("the shard head lines do not hash to the checkpoint root")
    return heads
