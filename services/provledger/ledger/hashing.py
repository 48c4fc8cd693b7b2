"""RFC 9162 hashing primitives shared by every Merkle module of the ledger.

Kept apart from :mod:`provledger.ledger.merkle` so that the proof planner and the
compact range can use them without importing each other; callers outside the
ledger take these names from :mod:`provledger.ledger.merkle`.

SPEC: RFC 9162 2.1.1: "MTH({d(0)}) = SHA-256(0x00 || d(0))" and
"MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))".
"""

from __future__ import annotations

from hashlib import sha256
from typing import Final

#: Size in bytes of every hash in the log (SHA-256).
HASH_SIZE: Final = 32

#: The root of the empty tree. SPEC: RFC 9162 2.1.1: "MTH({}) = SHA-256()".
EMPTY_ROOT: Final = sha256(b"").digest()

#: The largest tree size or index accepted anywhere: sizes are uint64 on the wire.
MAX_SIZE: Final = (1 << 64) - 1

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || data), domain-separated from interior nodes."""
    return sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return sha256(_NODE_PREFIX + left + right).digest()
