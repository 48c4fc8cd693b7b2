"""Ethereum's Recursive Length Prefix encoding, strictly: one spelling per value, or an error.

An item is a byte string or a list of items. :func:`encode` writes the one encoding Ethereum
defines; :func:`decode` reads it back and refuses every other spelling of the same value (a long
form where the short one fits, a length with leading zeros, a single byte below 0x80 wrapped in a
prefix, bytes after the item), so a hash over the encoding pins the value::

    >>> encode([b"cat", [b"dog"], b""]).hex()
    'ca83636174c483646f6780'
    >>> decode(bytes.fromhex("ca83636174c483646f6780"))
    [b'cat', [b'dog'], b'']
    >>> decode(bytes.fromhex("8161"))
    Traceback (most recent call last):
    ...
    provledger.errors.VerificationError: RLP at byte 0: a single byte below 0x80 is its own encoding

SPEC: Ethereum Yellow Paper, Appendix B (Recursive Length Prefix): "If the byte-array contains
solely a single byte and that single byte is less than 128, then the input is exactly equal to
the output"; "If the byte-array contains fewer than 56 bytes, then the output is equal to the
input prefixed by the byte equal to the length of the byte array plus 128"; otherwise the prefix
is 183 plus the length of the big-endian length "with no leading zeros"; lists alike from 192 and
247. Integers are "the shortest byte array whose big-endian interpretation is the scalar".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeAlias

from provledger.errors import VerificationError

#: A decoded RLP value: bytes, or a list of values.
Item: TypeAlias = "bytes | list[Item]"
#: What :func:`encode` accepts: bytes, or any sequence of such (tuples too).
Encodable: TypeAlias = "bytes | Sequence[Encodable]"

#: Deepest nesting :func:`decode` follows: Ethereum's headers, receipts and trie nodes nest at most
#: 3 levels; a hostile input nesting thousands deep must not exhaust the stack.
MAX_DEPTH: Final = 16

_SHORT: Final = 56


def _length_prefix(length: int, offset: int) -> bytes:
    if length < _SHORT:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + _SHORT - 1 + len(size)]) + size


def encode(item: Encodable) -> bytes:
    """The RLP encoding of ``item`` (bytes, or a sequence of items)."""
    if isinstance(item, bytes | bytearray):
        data = bytes(item)
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _length_prefix(len(data), 0x80) + data
    payload = b"".join(encode(child) for child in item)
    return _length_prefix(len(payload), 0xC0) + payload


def encode_int(value: int) -> bytes:
    """The scalar ``value`` as RLP wants it before encoding: big-endian, no leading zeros (0 is empty)."""
    if value < 0:
        raise ValueError(f"RLP scalars are non-negative, not {value}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_int(data: bytes, what: str) -> int:
    """A scalar read back from its bytes, refusing leading zeros (a second spelling of the same number)."""
    if data[:1] == b"\x00":
        raise VerificationError(f"{what} has a leading zero byte")
    return int.from_bytes(data, "big")


def decode(data: bytes) -> Item:
    """The one item ``data`` encodes, all of it; :class:`VerificationError` for any other input."""
    item, end = _item(data, 0, len(data), 0)
    if end != len(data):
        raise VerificationError(f"RLP has {len(data) - end} bytes after its item")
    return item


def _span(data: bytes, at: int, limit: int, offset: int) -> tuple[int, int]:
    """Where the payload of the string (``offset`` 0x80) or list (0xC0) prefixed at ``at`` lies.

    ``limit`` is the end of the enclosing list: nothing may run past it.
    """
    prefix = data[at] - offset
    if prefix < _SHORT:
        start, length = at + 1, prefix
    else:
        size = prefix - _SHORT + 1
        start = at + 1 + size
        if start > limit:
            raise VerificationError(f"RLP at byte {at}: the length runs past the end")
        raw = data[at + 1 : start]
        if raw[0] == 0:
            raise VerificationError(f"RLP at byte {at}: the length has a leading zero byte")
        length = int.from_bytes(raw, "big")
        if length < _SHORT:
            raise VerificationError(f"RLP at byte {at}: a long length prefix for {length} bytes")
    if start + length > limit:
        raise VerificationError(f"RLP at byte {at}: {length} bytes announced, fewer remain")
    return start, start + length


def _item(data: bytes, at: int, limit: int, depth: int) -> tuple[Item, int]:
    if at >= limit:
        raise VerificationError(f"RLP at byte {at}: the input ended where an item was due")
    first = data[at]
    if first < 0x80:
        return data[at : at + 1], at + 1
    if first < 0xC0:
        start, end = _span(data, at, limit, 0x80)
        if end - start == 1 and data[start] < 0x80:
            raise VerificationError(f"RLP at byte {at}: a single byte below 0x80 is its own encoding")
        return data[start:end], end
    if depth >= MAX_DEPTH:
        raise VerificationError(f"RLP at byte {at}: lists nest deeper than {MAX_DEPTH}")
    start, end = _span(data, at, limit, 0xC0)
    items: list[Item] = []
    while start < end:
        child, start = _item(data, start, end, depth + 1)
        items.append(child)
    return items, end


def as_list(item: Item, what: str, length: int | None = None) -> list[Item]:
    """``item`` as a list (of exactly ``length`` items when given), or an error naming ``what``."""
    if not isinstance(item, list):
        raise VerificationError(f"{what} is a byte string, not an RLP list")
    if length is not None and len(item) != length:
        raise VerificationError(f"{what} has {len(item)} items, not {length}")
    return item


def as_bytes(item: Item, what: str, size: int | None = None) -> bytes:
    """``item`` as bytes (of exactly ``size`` bytes when given), or an error naming ``what``."""
    if not isinstance(item, bytes):
        raise VerificationError(f"{what} is an RLP list, not a byte string")
    if size is not None and len(item) != size:
        raise VerificationError(f"{what} is {len(item)} bytes, not {size}")
    return item
