"""Block headers: the signed unit of sealing, their canonical bytes, hash and chain.

A block seals a batch of one shard's events. Its header commits to the batch
(``batch_root``), to the shard's whole log after it (``tree_size``, ``log_root``)
and to the previous header (``prev_block_hash``), so one signature covers every
event ever sealed on the shard.

Canonical header bytes (version 1) are a fixed 186-byte big-endian layout, never
JSON, so every implementation hashes and signs the same bytes:

====== ==== ================== =====================================================
offset size field              encoding
====== ==== ================== =====================================================
0      4    magic              ASCII ``PLBH`` (provledger block header)
4      2    version            uint16, 1
6      16   log_id             16 raw bytes: the ledger instance (a UUID's bytes)
22     4    shard              uint32: the store's stable number of one topic partition
26     8    height             uint64: 0, 1, 2, ... within the shard
34     32   prev_block_hash    ``block_hash`` of height - 1; 32 zero bytes at height 0
66     32   batch_root         RFC 9162 root of this block's leaf hashes alone
98     8    tree_size          uint64: leaves in the shard's log after this block
106    32   log_root           RFC 9162 root of the shard's log at ``tree_size``
138    8    first_offset       uint64: first Kafka offset covered
146    8    last_offset        uint64: last Kafka offset covered (inclusive)
154    4    event_count        uint32: leaves in this block, at least 1
158    8    min_event_time     int64: microseconds since the Unix epoch
166    8    max_event_time     int64: microseconds since the Unix epoch
174    8    sealed_at          int64: microseconds since the Unix epoch
182    4    key_id             C2SP key id of the signing key
====== ==== ================== =====================================================

``block_hash = SHA-256(canonical header bytes)`` and the signature is
``Ed25519(key, "provledger/block/v1\\n" || canonical header bytes)``; the prefix keeps
a block signature from ever being valid as a signed note or any other message.
The leaves of the block are leaf indexes ``[tree_size - event_count, tree_size)``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from provledger.errors import VerificationError
from provledger.ledger.hashing import HASH_SIZE
from provledger.ledger.keys import KEY_ID_SIZE, KeySet, SigningKey, TrustedKey

#: The only header version this code writes and reads.
HEADER_VERSION: Final = 1
#: The first four canonical bytes of every header.
HEADER_MAGIC: Final = b"PLBH"
#: Domain prefix of every block signature.
BLOCK_SIGNATURE_DOMAIN: Final = b"provledger/block/v1\n"
#: Bytes in a ``log_id``.
LOG_ID_SIZE: Final = 16
#: ``prev_block_hash`` of the first block of a shard.
GENESIS_PREV_HASH: Final = bytes(HASH_SIZE)


def log_id_for(log_origin: str) -> bytes:
    """The ``log_id`` of the ledger named ``log_origin``: the first 16 bytes of its SHA-256.

    Deriving it from the checkpoint origin ties every header to the name its checkpoints carry.
    """
    return hashlib.sha256(log_origin.encode()).digest()[:LOG_ID_SIZE]


_LAYOUT: Final = struct.Struct(">4sH16sIQ32s32sQ32sQQIqqq4s")
#: Bytes in a version 1 header.
HEADER_SIZE: Final = _LAYOUT.size

_U32: Final = (1 << 32) - 1
_U64: Final = (1 << 64) - 1
_I64_MIN: Final = -(1 << 63)
_I64_MAX: Final = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """One block's header; builds only if every invariant of the layout holds.

    Invalid values raise ``ValueError`` (a caller's bug); :meth:`from_bytes` turns
    that into :class:`VerificationError` for bytes that came from outside.
    """

    version: int
    log_id: bytes
    shard: int
    height: int
    prev_block_hash: bytes
    batch_root: bytes
    tree_size: int
    log_root: bytes
    first_offset: int
    last_offset: int
    event_count: int
    min_event_time: int
    max_event_time: int
    sealed_at: int
    key_id: bytes

    def __post_init__(self) -> None:
        problems = [
            (self.version != HEADER_VERSION, f"version {self.version} is not {HEADER_VERSION}"),
            (len(self.log_id) != LOG_ID_SIZE, f"log_id has {len(self.log_id)} bytes, not {LOG_ID_SIZE}"),
            (len(self.key_id) != KEY_ID_SIZE, f"key_id has {len(self.key_id)} bytes, not {KEY_ID_SIZE}"),
            (not 0 <= self.shard <= _U32, f"shard {self.shard} is not a uint32"),
            (not 0 <= self.height <= _U64, f"height {self.height} is not a uint64"),
            (
                not 1 <= self.event_count <= _U32,
                f"event_count {self.event_count} is not between 1 and 2**32-1",
            ),
            (not self.event_count <= self.tree_size <= _U64, f"tree_size {self.tree_size} < event_count"),
            (not 0 <= self.first_offset <= self.last_offset <= _U64, "offsets are not 0 <= first <= last"),
            (
                not _I64_MIN <= self.min_event_time <= self.max_event_time <= _I64_MAX,
                "event times are not int64 with min <= max",
            ),
            (not _I64_MIN <= self.sealed_at <= _I64_MAX, f"sealed_at {self.sealed_at} is not an int64"),
        ]
        for name in ("prev_block_hash", "batch_root", "log_root"):
            value: bytes = getattr(self, name)
            problems.append((len(value) != HASH_SIZE, f"{name} has {len(value)} bytes, not {HASH_SIZE}"))
        genesis = self.prev_block_hash == GENESIS_PREV_HASH
        problems.append((genesis != (self.height == 0), "prev_block_hash is all zeros exactly at height 0"))
        problems.append(
            (self.height == 0 and self.tree_size != self.event_count, "at height 0, tree_size is event_count")
        )
        failed = [message for bad, message in problems if bad]
        if failed:
            raise ValueError("invalid block header: " + "; ".join(failed))

    @property
    def first_leaf_index(self) -> int:
        """Leaf index of the first event of this block."""
        return self.tree_size - self.event_count

    def to_bytes(self) -> bytes:
        """The canonical header bytes (layout in the module docstring)."""
        return _LAYOUT.pack(
            HEADER_MAGIC,
            self.version,
            self.log_id,
            self.shard,
            self.height,
            self.prev_block_hash,
            self.batch_root,
            self.tree_size,
            self.log_root,
            self.first_offset,
            self.last_offset,
            self.event_count,
            self.min_event_time,
            self.max_event_time,
            self.sealed_at,
            self.key_id,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> BlockHeader:
        """Decode canonical header bytes; reject any other length, magic, version or invariant."""
        if len(data) != HEADER_SIZE:
            raise VerificationError(f"a block header has {HEADER_SIZE} bytes, got {len(data)}")
        magic, *fields = _LAYOUT.unpack(data)
        if magic != HEADER_MAGIC:
            raise VerificationError(f"block header magic is {magic!r}, not {HEADER_MAGIC!r}")
        try:
            return cls(*fields)
        except ValueError as exc:
            raise VerificationError(str(exc)) from exc


def block_hash(header: BlockHeader) -> bytes:
    """SHA-256 of the canonical header bytes: what the next block and checkpoints name."""
    return hashlib.sha256(header.to_bytes()).digest()


def _signed_message(header: BlockHeader) -> bytes:
    return BLOCK_SIGNATURE_DOMAIN + header.to_bytes()


def sign_header(header: BlockHeader, key: SigningKey) -> bytes:
    """The Ed25519 signature of the header, by the key its ``key_id`` names."""
    if header.key_id != key.key_id:
        raise ValueError(
            f"header names key id {header.key_id.hex()}, signing key {key.name!r} has {key.key_id.hex()}"
        )
    return key.sign(_signed_message(header))


def verify_header_signature(header: BlockHeader, signature: bytes, keyset: KeySet) -> TrustedKey:
    """Check the signature under the trusted key the header names, valid when it was sealed.

    Returns the key that verified. A key used outside its validity range fails,
    which is what makes rotation safe: a retired key cannot sign newer blocks.
    """
    try:
        return keyset.verify(_signed_message(header), signature, header.key_id, header.sealed_at)
    except VerificationError as exc:
        raise VerificationError(f"block {header.shard}/{header.height}: {exc}") from exc


def verify_chain(headers: Sequence[BlockHeader]) -> None:
    """Check that consecutive headers of one shard link into a chain.

    Each header MUST have the same ``log_id`` and shard as the one before, the
    next height, its ``prev_block_hash`` equal to the ``block_hash`` of the one
    before, ``tree_size`` grown by exactly its ``event_count``, and offsets that do
    not go back (a Kafka record split across two blocks may share an offset).
    Signatures are checked apart, with :func:`verify_header_signature`.
    """
    for previous, header in pairwise(headers):
        where = f"block {header.shard}/{header.height}"
        if (header.log_id, header.shard) != (previous.log_id, previous.shard):
            raise VerificationError(f"{where} is not in the log and shard of block {previous.height}")
        if header.height != previous.height + 1:
            raise VerificationError(f"{where} follows height {previous.height}")
        if header.prev_block_hash != block_hash(previous):
            raise VerificationError(f"{where}: prev_block_hash is not the hash of block {previous.height}")
        if header.tree_size != previous.tree_size + header.event_count:
            raise VerificationError(
                f"{where}: tree_size {header.tree_size} is not "
                f"{previous.tree_size} + {header.event_count} events"
            )
        if header.first_offset < previous.last_offset:
            raise VerificationError(
                f"{where}: first offset {header.first_offset} is before "
                f"the last one sealed, {previous.last_offset}"
            )
