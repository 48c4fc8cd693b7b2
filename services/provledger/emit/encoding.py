"""Event bodies for the emitter's hot path: the part a run's events share is encoded once.

The events of one run repeat their producer, run, job and usually their artifacts; only the
id, time, type, attributes and payload change. In the v1 layout the repeated fields are one
contiguous stretch of the body (producer, run, job, inputs, outputs), so :class:`BodyEncoder`
keeps that stretch per run and writes the rest around it. It cuts the encoding, the emitter's
largest per-event cost, about fourfold.

The bytes MUST equal :func:`provledger.events.binary.event_body`, the reference: a cache miss
encodes with the reference and checks that its own head and tail frame the result (so a layout
change fails loudly on first use), and ``tests/unit/emit/test_emit_encoding.py`` cross-checks
every field with hypothesis.

Cache keys are object identities (the run helpers reuse one ``Run``, one ``Job`` and the
caller's ``ArtifactRef`` objects), and each entry holds those objects, so an id cannot be
reused by another object while its entry lives.
"""

from __future__ import annotations

from provledger.events import ArtifactRef, Event, EventType
from provledger.events.binary import event_body, zigzag_varint

#: Distinct (run, job, producer, artifacts) stretches kept; beyond it the cache starts afresh.
CACHE_ENTRIES = 4096

_TYPE = {event_type: zigzag_varint(index) for index, event_type in enumerate(EventType)}
_NONE = b"\x00"
_SOME = b"\x02"
_NO_ATTRIBUTES = b"\x00"
#: An event id is a canonical UUID (the model checks it): 36 ASCII characters.
_ID_LENGTH = zigzag_varint(36)
_LOW_BITS = 21
#: Varints of the lengths and counts short enough to be common, looked up instead of computed.
_LENGTHS = tuple(zigzag_varint(n) for n in range(1024))

_Key = tuple[int, int, str, tuple[int, ...], tuple[int, ...]]
_Held = tuple[object, object, tuple[ArtifactRef, ...], tuple[ArtifactRef, ...]]


def _avro_bytes(data: bytes) -> bytes:
    size = len(data)
    return (_LENGTHS[size] if size < len(_LENGTHS) else zigzag_varint(size)) + data


def _time(micros: int, highs: dict[int, bytes]) -> bytes:
    """``zigzag_varint(micros)``: three 7-bit groups computed, the varint of the bits above cached.

    The bits above the lowest 21 change about once a second, so their varint is looked up
    rather than computed: the generic loop costs more than the rest of the head together.
    """
    unsigned = micros << 1
    high = unsigned >> _LOW_BITS
    if micros < 0 or high == 0:
        return zigzag_varint(micros)
    rest = highs.get(high)
    if rest is None:
        if len(highs) >= 64:
            highs.clear()
        rest = highs[high] = zigzag_varint(micros)[3:]
    return bytes((unsigned & 0x7F | 0x80, unsigned >> 7 & 0x7F | 0x80, unsigned >> 14 & 0x7F | 0x80)) + rest


def _head(event: Event, highs: dict[int, bytes]) -> bytes:
    """event_id, event_time, event_type: the fields before the shared stretch."""
    return _ID_LENGTH + event.event_id.encode() + _time(event.event_time_us, highs) + _TYPE[event.event_type]


def _tail(event: Event) -> bytes:
    """attributes, payload_digest, openlineage: the fields after the shared stretch."""
    if event.attributes:
        parts = [_LENGTHS[len(event.attributes)]]  # at most MAX_ATTRIBUTES
        for key, value in event.attributes:
            parts += (_avro_bytes(key.encode()), _avro_bytes(value.encode()))
        parts.append(_NO_ATTRIBUTES)
        attributes = b"".join(parts)
    else:
        attributes = _NO_ATTRIBUTES
    payload = _NONE if event.payload_digest is None else _SOME + _avro_bytes(event.payload_digest.encode())
    original = _NONE if event.openlineage is None else _SOME + _avro_bytes(event.openlineage)
    return attributes + payload + original


class BodyEncoder:
    """``encode(event) == event_body(event)``, faster for events that share a run."""

    def __init__(self, capacity: int = CACHE_ENTRIES) -> None:
        self._capacity = capacity
        self._stretches: dict[_Key, tuple[_Held, bytes]] = {}
        self._highs: dict[int, bytes] = {}

    def encode(self, event: Event) -> bytes:
        """The Avro body of ``event`` under the v1 event layout."""
        run, job, inputs, outputs = event.run, event.job, event.inputs, event.outputs
        key = (id(run), id(job), event.producer, tuple(map(id, inputs)), tuple(map(id, outputs)))
        entry = self._stretches.get(key)
        if entry is not None:
            return _head(event, self._highs) + entry[1] + _tail(event)
        body = event_body(event)
        head, tail = _head(event, self._highs), _tail(event)
        if not (body.startswith(head) and body.endswith(tail)):
            raise AssertionError("the v1 event layout changed: update provledger.emit.encoding")
        if len(self._stretches) >= self._capacity:
            self._stretches.clear()
        self._stretches[key] = ((run, job, inputs, outputs), body[len(head) : len(body) - len(tail)])
        return body
