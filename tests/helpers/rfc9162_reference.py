"""A slow, obviously correct RFC 9162 section 2.1 implementation, transcribed from the RFC text.

The fast code in ``provledger.ledger`` is cross-checked against this with hypothesis.
It works on leaf hashes (the MTH of one entry is its leaf hash) and recurses exactly
as the RFC's definitions do; nothing here is shared with the code under test.
"""

from __future__ import annotations

from hashlib import sha256


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 2.1.1: the Merkle Tree Hash of a list of leaf hashes."""
    n = len(d)
    if n == 0:
        return sha256(b"").digest()
    if n == 1:
        return d[0]
    k = _largest_power_of_two_below(n)
    return _node(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1: PATH(m, D[n])."""
    n = len(d)
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, d[:k], b), mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    return _subproof(m, d, True)


def leaves(count: int, salt: int = 0) -> list[bytes]:
    """``count`` distinct leaf hashes, cheap to make and different per ``salt``."""
    return [sha256(b"\x00" + salt.to_bytes(8, "big") + i.to_bytes(8, "big")).digest() for i in range(count)]
