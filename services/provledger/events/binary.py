"""Avro binary of an :class:`Event` under the v1 event layout, written by hand for speed.

fastavro's generic writer spends most of its time resolving unions and walking the schema;
this writer knows the one layout shared by ``provledger.events.Event`` v1 and
``provledger.canonical.CanonicalEvent`` v1 and is about 2.5x faster, which is what lets the
emitter keep up with the broker. It MUST produce exactly the bytes fastavro produces under
those schemas: ``tests/unit/events/test_events_binary.py`` cross-checks the two with hypothesis, and
fails the day a schema changes without this module following.

SPEC (Avro 1.11 "Binary Encoding"): ``long`` is a zig-zag varint; ``string`` and ``bytes`` are a
long length then the bytes; a union is the long index of the branch then its value; an enum is
the long index of its symbol; an array is blocks of (long count, items) ended by a 0 count.
"""

from __future__ import annotations

from provledger.events.model import ArtifactRef, Event, EventType


def zigzag_varint(value: int) -> bytes:
    """An Avro ``long``: zig-zag mapped to unsigned, then 7 bits per byte, least significant first."""
    unsigned = (value << 1) ^ (value >> 63)
    out = bytearray()
    while unsigned > 0x7F:
        out.append((unsigned & 0x7F) | 0x80)
        unsigned >>= 7
    out.append(unsigned)
    return bytes(out)


# Small lengths and counts are by far the most common; looking them up avoids the loop above.
_SMALL = tuple(zigzag_varint(n) for n in range(4096))
_SYMBOLS = {symbol: _SMALL[index] for index, symbol in enumerate(EventType)}
_NULL = b"\x00"
_SOME = b"\x02"
_END = b"\x00"


def _long(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 4096 else zigzag_varint(value)


def _bytes(data: bytes) -> bytes:
    return _long(len(data)) + data


def _string(text: str) -> bytes:
    return _bytes(text.encode())


def _optional_string(text: str | None) -> bytes:
    return _NULL if text is None else _SOME + _string(text)


def _artifacts(refs: tuple[ArtifactRef, ...]) -> bytes:
    if not refs:
        return _END
    parts = [_long(len(refs))]
    for ref in refs:
        parts += (
            _string(ref.namespace),
            _string(ref.name),
            _string(ref.digest),
            _string(ref.kind),
            _optional_string(ref.version),
        )
    parts.append(_END)
    return b"".join(parts)


def event_body(event: Event) -> bytes:
    """The Avro binary body of ``event`` (no header, no fingerprint)."""
    parts = [
        _string(event.event_id),
        zigzag_varint(event.event_time_us),
        _SYMBOLS[event.event_type],
        _string(event.producer),
        _string(event.run.run_id),
        _optional_string(event.run.parent_run_id),
        _string(event.job.namespace),
        _string(event.job.name),
        _artifacts(event.inputs),
        _artifacts(event.outputs),
    ]
    if event.attributes:
        parts.append(_long(len(event.attributes)))
        for key, value in event.attributes:
            parts += (_string(key), _string(value))
    parts.append(_END)
    parts.append(_optional_string(event.payload_digest))
    parts.append(_NULL if event.openlineage is None else _SOME + _bytes(event.openlineage))
    return b"".join(parts)


def array_of(bodies: list[bytes]) -> bytes:
    """An Avro array holding already-encoded items, as one block: count, items, end marker."""
    if not bodies:
        return _END
    return _long(len(bodies)) + b"".join(bodies) + _END
