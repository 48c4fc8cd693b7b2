"""The sealer's fast path: read a v1 ``EventBatch`` straight from its bytes, canonical slices included.

The v1 event layout is field for field the v1 canonical layout (:mod:`provledger.events.binary`),
so when a record is encoded the way :func:`~provledger.events.binary.event_body` encodes (every
``long`` in its shortest form, each array in one block, attributes sorted by key) the canonical
bytes of each event are a slice of the record, and nothing needs re-encoding. This reader walks
the bytes once, checks every rule :class:`~provledger.events.model.Event` checks, and keeps only
the row the sealer stores (:class:`~provledger.events.rows.EventRow`); for 300-byte events it is
several times faster than fastavro's generic decoder followed by :meth:`Event.from_avro` and a
re-encode (``benchmarks/bench_decode.py``).

It answers ``None`` for any record it does not fully vouch for: another schema version, any
encoding other than the canonical one, anything invalid, truncated or left over. The caller then
takes the general path (:func:`~provledger.events.codec.decode_record`), which decides the
record's fate and the dead-letter reason exactly as before, so this module can only be faster,
never different: ``tests/unit/events/test_events_reader.py`` checks that whatever it accepts,
the general path accepts with the same canonical bytes.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from provledger.events.codec import HEADER_SIZE, MAGIC, WRITTEN_VERSION
from provledger.events.limits import (
    MAX_ARTIFACTS,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_OPENLINEAGE_BYTES,
    MAX_TEXT_BYTES,
    MAX_TIME_US,
    MIN_TIME_US,
)
from provledger.events.model import EventType
from provledger.events.rows import ArtifactKey, EventRow
from provledger.events.schemas import SchemaRegistry, registry
from provledger.ledger.hashing import leaf_hash

# The same rules as provledger.events.model (limits from provledger.events.limits: texts are at
# most so many UTF-8 bytes, hold no NUL, and decode strictly, which refuses surrogates), and as
# single regular expressions: an event id is a
# lowercase hyphenated UUID of version 7 and the RFC 9562 variant (what UUID.version needs to
# answer 7), a run id any lowercase hyphenated UUID (canonical_uuid), a producer a URI.
_EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_SYMBOLS = tuple(symbol.value for symbol in EventType)
_INT64 = 1 << 64


class _Shared(NamedTuple):
    """One object for each value a record repeats (its run, its job, the dataset every event
    used): the sealer holds a batch of 1000-event records in memory, one copy of each, not 1000.

    Only values that passed their checks are kept, so a repeat is checked once per record:
    the regular expressions over producer, run id and artifacts were a third of the reading.
    """

    texts: dict[str, str]
    refs: dict[ArtifactKey, ArtifactKey]
    producers: set[str]
    run_ids: dict[str, str]


class _NotCanonical(Exception):
    """The record leaves the fast path; the general decoder will say what it is."""


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint in its shortest form, and the position after it."""
    byte = buf[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    if byte == 0 or value >= _INT64:  # a trailing zero group is a longer spelling of a shorter value
        raise _NotCanonical
    return (value >> 1) ^ -(value & 1), pos + 1


def _span(buf: bytes, pos: int) -> tuple[int, int]:
    """Where the data of a ``bytes`` or ``string`` at ``pos`` starts and ends."""
    length = buf[pos]
    if length < 0x80 and not length & 1:  # lengths under 64 take one byte: the common case, inlined
        start = pos + 1
        end = start + (length >> 1)
    else:
        length, start = _long(buf, pos)
        end = start + length
        if length < 0:
            raise _NotCanonical
    if end > len(buf):
        raise _NotCanonical
    return start, end


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    """A string (invalid UTF-8 raises UnicodeDecodeError, a ValueError: the caller leaves the fast path).

    Only for values a regular expression checks afterwards (ids, digests, kinds), which no NUL
    passes; every other text is read with :func:`_text`.
    """
    start, end = _span(buf, pos)
    return buf[start:end].decode(), end


def _text(buf: bytes, pos: int, limit: int) -> tuple[str, int]:
    """A text of at most ``limit`` UTF-8 bytes without NUL (:func:`provledger.events.limits.text_problem`).

    Strict UTF-8 decoding refuses encoded surrogates, so the three rules of the edge all hold.
    """
    start, end = _span(buf, pos)
    if end - start > limit:
        raise _NotCanonical
    text = buf[start:end].decode()
    if "\x00" in text:  # a C call once compiled, where bytes.find is a generic method call
        raise _NotCanonical
    return text, end


def _optional(buf: bytes, pos: int) -> tuple[bool, int]:
    """Whether a ``["null", ...]`` union holds a value, and the position of that value."""
    branch = buf[pos]
    if branch > 2 or branch == 1:
        raise _NotCanonical
    return branch == 2, pos + 1


def _end_of_array(buf: bytes, pos: int) -> int:
    if buf[pos] != 0:  # a second block: valid Avro, but not how the canonical form is written
        raise _NotCanonical
    return pos + 1


def _artifacts(
    buf: bytes, pos: int, shared: dict[ArtifactKey, ArtifactKey]
) -> tuple[tuple[ArtifactKey, ...], int]:
    count, pos = _long(buf, pos)
    if count == 0:
        return (), pos
    if not 0 < count <= MAX_ARTIFACTS:
        raise _NotCanonical
    refs = []
    for _ in range(count):
        namespace, pos = _text(buf, pos, MAX_TEXT_BYTES)
        name, pos = _text(buf, pos, MAX_TEXT_BYTES)
        digest, pos = _string(buf, pos)
        kind, pos = _string(buf, pos)
        version = None
        if buf[pos] == 2:
            version, pos = _text(buf, pos + 1, MAX_TEXT_BYTES)
            if not version:
                raise _NotCanonical
        elif buf[pos]:
            raise _NotCanonical
        else:
            pos += 1
        ref = ArtifactKey(namespace, name, digest, kind, version)
        known = shared.get(ref)
        if known is None:
            if (
                not namespace
                or not name
                or _DIGEST.fullmatch(digest) is None
                or _KIND.fullmatch(kind) is None
            ):
                raise _NotCanonical
            known = shared[ref] = ref
        refs.append(known)
    return tuple(refs), _end_of_array(buf, pos)


def _skip_attributes(buf: bytes, pos: int) -> int:
    """Check the attributes: at most MAX_ATTRIBUTES, keys strictly increasing (sorted, unique)."""
    count, pos = _long(buf, pos)
    if count == 0:
        return pos
    if not 0 < count <= MAX_ATTRIBUTES:
        raise _NotCanonical
    previous = ""
    for _ in range(count):
        key, pos = _text(buf, pos, MAX_TEXT_BYTES)
        pos = _text(buf, pos, MAX_ATTRIBUTE_VALUE_BYTES)[1]
        if key <= previous:
            raise _NotCanonical
        previous = key
    return _end_of_array(buf, pos)


def _event(buf: bytes, start: int, offset: int, shared: _Shared) -> tuple[EventRow, int]:
    event_id, pos = _string(buf, start)
    event_time, pos = _long(buf, pos)
    symbol = buf[pos]
    producer, pos = _text(buf, pos + 1, MAX_TEXT_BYTES)
    if producer not in shared.producers:
        if _URI.fullmatch(producer) is None:
            raise _NotCanonical
        shared.producers.add(producer)
    text, pos = _string(buf, pos)
    run_id = shared.run_ids.get(text)
    if run_id is None:
        if _UUID.fullmatch(text) is None:
            raise _NotCanonical
        run_id = shared.run_ids[text] = text
    parent_run_id = None
    if buf[pos] == 2:
        parent_run_id, pos = _string(buf, pos + 1)
        if _UUID.fullmatch(parent_run_id) is None:
            raise _NotCanonical
    elif buf[pos]:
        raise _NotCanonical
    else:
        pos += 1
    job_namespace, pos = _text(buf, pos, MAX_TEXT_BYTES)
    job_name, pos = _text(buf, pos, MAX_TEXT_BYTES)
    if (
        _EVENT_ID.fullmatch(event_id) is None
        or not MIN_TIME_US <= event_time <= MAX_TIME_US
        or symbol & 1
        or symbol >= 2 * len(_SYMBOLS)
        or not job_namespace
        or not job_name
    ):
        raise _NotCanonical
    inputs, pos = _artifacts(buf, pos, shared.refs)
    outputs, pos = _artifacts(buf, pos, shared.refs)
    pos = _skip_attributes(buf, pos)
    present, pos = _optional(buf, pos)
    if present:
        payload_digest, pos = _string(buf, pos)
        if _DIGEST.fullmatch(payload_digest) is None:
            raise _NotCanonical
    present, pos = _optional(buf, pos)
    if present:
        first, pos = _span(buf, pos)
        if pos - first > MAX_OPENLINEAGE_BYTES:
            raise _NotCanonical
    texts = shared.texts
    canonical = buf[start:pos]
    row = EventRow(
        event_id, canonical, leaf_hash(canonical), event_time, _SYMBOLS[symbol >> 1], run_id,
        parent_run_id, texts.setdefault(job_namespace, job_namespace), texts.setdefault(job_name, job_name),
        inputs, outputs, offset,
    )  # fmt: skip
    return row, pos


def read_batch(value: bytes, offset: int, schemas: SchemaRegistry | None = None) -> list[EventRow] | None:
    """The rows of a canonically encoded, valid v1 record at source ``offset``; ``None`` if not that.

    The caller bounds the record's size (``PROVLEDGER_MAX_RECORD_BYTES``); every count and length
    inside it is checked here before anything is built.
    """
    schemas = schemas or registry()
    if (
        value[:2] != MAGIC
        or schemas.current.number != WRITTEN_VERSION
        or schemas.by_fingerprint(value[2:HEADER_SIZE]) is not schemas.current  # the pre-spec alias too
    ):
        return None
    try:
        count, pos = _long(value, HEADER_SIZE)
        if count <= 0:
            return None
        events = []
        shared = _Shared({}, {}, set(), {})
        for _ in range(count):
            row, pos = _event(value, pos, offset, shared)
            events.append(row)
        pos = _end_of_array(value, pos)
    except (_NotCanonical, IndexError, ValueError):
        return None
    return events if pos == len(value) else None
