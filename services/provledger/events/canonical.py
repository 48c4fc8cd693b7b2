"""Canonical event bytes: what the ledger hashes, the same however the event arrived.

SPEC (ARCHITECTURE.md section 3): canonical event bytes are the Avro binary of the event under
the canonical schema (``provledger.canonical.CanonicalEvent``), attributes sorted by key and no
map anywhere; ``leaf_hash = SHA-256(0x00 || canonical_event_bytes)`` (RFC 9162 section 2.1.1).

An event decoded from an Avro batch, mapped from OpenLineage JSON or built by the SDK is the
same :class:`~provledger.events.model.Event` value, and :class:`Event` keeps attributes sorted,
so the bytes depend on the event alone. ``tests/unit/events/test_events_binary.py`` pins them.
"""

from __future__ import annotations

import io

from fastavro import schemaless_reader

from provledger.errors import VerificationError
from provledger.events.binary import event_body
from provledger.events.model import Event
from provledger.events.schemas import registry
from provledger.ledger.merkle import leaf_hash


def canonical_event_bytes(event: Event) -> bytes:
    """The bytes the ledger hashes for ``event``.

    The v1 canonical layout is field for field the v1 event layout, so the fast writer serves
    both; ``tests/unit/events/test_events_binary.py`` checks its output against fastavro under the
    canonical schema itself.
    """
    return event_body(event)


def event_leaf_hash(event: Event) -> bytes:
    """The RFC 9162 leaf hash of ``event`` in a shard's Merkle log."""
    return leaf_hash(canonical_event_bytes(event))


def decode_canonical(canonical: bytes) -> Event:
    """The event held in canonical bytes (Avro binary under the canonical schema)."""
    record = schemaless_reader(io.BytesIO(canonical), registry().current.canonical, None)
    assert isinstance(record, dict)
    return Event.from_avro(record)


def canonical_event_id(canonical: bytes) -> str:
    """The event id inside canonical bytes, for ``verify_evidence(event_id_of=...)``.

    Raises :class:`VerificationError` for bytes that are not an event, whatever fastavro raised.
    """
    try:
        return decode_canonical(canonical).event_id
    except Exception as exc:  # fastavro documents no exception hierarchy for hostile bytes
        raise VerificationError(
            f"the canonical bytes are not a provledger event ({type(exc).__name__})"
        ) from exc
