"""Kafka record values of ``provledger.events``: Avro single-object encoded ``EventBatch``.

The sealer calls :func:`decode_record` on every record value. It MUST NOT crash on anything a
producer can send: every failure is an :class:`~provledger.errors.InvalidEvent` whose reason
the sealer writes into the dead-letter record (besides the reasons of
:mod:`provledger.events.model`):

``oversized``            the value is larger than ``max_bytes`` (``PROVLEDGER_MAX_RECORD_BYTES``), or
                         holds more items or longer values than :mod:`provledger.events.limits` allows
``not_single_object``    too short, or not starting with the magic ``C3 01``
``unknown_fingerprint``  the writer schema is not one of ``schemas/`` (a newer producer?)
``malformed_avro``       the body does not decode under the writer schema, or has bytes left over
``empty_batch``          the batch holds no event

SPEC (Avro 1.11 "Single object encoding"): a single-object encoded value is the two-byte
marker ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema, then
the Avro binary encoding of the datum. :func:`batch_header` writes the fingerprint any Avro
library computes from ``schemas/``; :func:`decode_record` also reads records written before that,
whose header carries v1's pre-spec fingerprint (:mod:`provledger.events.schemas` says why).

A record is one unit: if any of its events is invalid, the whole record is rejected, since the
SDK validates events before batching them and a bad one means the producer is broken.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any, cast

from fastavro import schemaless_reader
from fastavro.types import Schema

from provledger.errors import InvalidEvent
from provledger.events.binary import array_of, event_body
from provledger.events.bounds import event_spans
from provledger.events.limits import DEFAULT_MAX_RECORD_BYTES
from provledger.events.model import Event
from provledger.events.schemas import SchemaRegistry, registry

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
#: The schema version :mod:`provledger.events.binary` writes; readers resolve it to the newest.
WRITTEN_VERSION = 1


def batch_header(schemas: SchemaRegistry | None = None) -> bytes:
    """Magic and fingerprint that start every record value this code writes."""
    return MAGIC + (schemas or registry()).version(WRITTEN_VERSION).batch_fingerprint


def encode_bodies(bodies: list[bytes], header: bytes | None = None) -> bytes:
    """A record value from event bodies already encoded with :func:`~provledger.events.binary.event_body`.

    The emitter encodes each event once when it is queued (to size batches exactly) and joins
    the bodies here when the batch is sealed.
    """
    return (header or batch_header()) + array_of(bodies)


def encode_record(events: Sequence[Event]) -> bytes:
    """The single-object encoded ``EventBatch`` holding ``events`` in order."""
    return encode_bodies([event_body(event) for event in events])


def decode_record(
    value: bytes, schemas: SchemaRegistry | None = None, max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> list[Event]:
    """The events of a record value, validated, or InvalidEvent saying why not.

    Nothing is decoded before :func:`~provledger.events.bounds.event_spans` has checked every
    count and length from the bytes; then events are decoded one at a time, so what a hostile
    record can make this build is bounded by one event, not by what its bytes claim.
    """
    schemas = schemas or registry()
    if len(value) > max_bytes:
        raise InvalidEvent("oversized", f"record value of {len(value)} bytes, more than {max_bytes}")
    if len(value) < HEADER_SIZE or value[:2] != MAGIC:
        raise InvalidEvent("not_single_object", "a value must start with C3 01 and an 8-byte fingerprint")
    writer = schemas.by_fingerprint(bytes(value[2:HEADER_SIZE]))
    if writer is None:
        raise InvalidEvent(
            "unknown_fingerprint",
            f"writer schema {value[2:HEADER_SIZE].hex()} is not in schemas/ (a newer producer?)",
        )
    body = bytes(value[HEADER_SIZE:])
    spans = event_spans(body, cast("Mapping[str, Any]", writer.batch))
    resolved = None if writer is schemas.current else schemas.current.event
    return [_decode_event(body[start:end], writer.event, resolved) for start, end in spans]


def _decode_event(data: bytes, writer: Schema, reader: Schema | None) -> Event:
    stream = io.BytesIO(data)
    try:
        record = schemaless_reader(stream, writer, reader)
    except Exception as exc:
        # fastavro raises whatever its decoding step meets (EOFError, ValueError, IndexError,
        # UnicodeDecodeError, ...) and documents no hierarchy; at this trust boundary every
        # one of them means the same thing: the bytes are not an event.
        raise InvalidEvent("malformed_avro", f"{type(exc).__name__}: {exc}"[:300]) from None
    if stream.tell() != len(data) or not isinstance(record, dict):
        raise InvalidEvent("malformed_avro", "an event does not decode to exactly its bytes")
    return Event.from_avro(record)
