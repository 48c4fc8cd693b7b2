"""Validate source records at the edge: Kafka bytes in, accepted events or reasons out.

Every way a record can be bad ends here as a :class:`Rejected` with a stable machine-readable
reason (the dead-letter record carries it); nothing a producer sends can raise past this module.

A native record is first offered to :func:`~provledger.events.reader.read_batch` (compiled when
built: :mod:`provledger.events.compiled`), which reads canonically encoded v1 batches straight
from their bytes; whatever it declines (another schema version, another encoding, anything
invalid) takes the general path, which decides the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provledger.errors import InvalidEvent
from provledger.events.canonical import canonical_event_bytes
from provledger.events.codec import decode_record
from provledger.events.compiled import read_batch
from provledger.events.model import ArtifactRef, Event
from provledger.events.openlineage import from_openlineage
from provledger.events.rows import ArtifactKey, EventRow
from provledger.ledger.merkle import leaf_hash


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One Kafka record as the sealer sees it, whatever client fetched it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record (or one event of it) that will not be sealed, and why."""

    record: SourceRecord
    reason: str
    detail: str
    event_id: str | None = None


def decode(record: SourceRecord, *, openlineage: bool, max_bytes: int) -> list[Event]:
    """The events a record carries; :class:`InvalidEvent` with the reason when it carries none."""
    if record.value is None:
        raise InvalidEvent("empty_record", "the record has no value (a tombstone?)")
    if len(record.value) > max_bytes:
        raise InvalidEvent("oversized", f"record value of {len(record.value)} bytes, more than {max_bytes}")
    if openlineage:
        return [from_openlineage(record.value)]
    return decode_record(record.value, max_bytes=max_bytes)


def _artifact(ref: ArtifactRef) -> ArtifactKey:
    return ArtifactKey(ref.namespace, ref.name, ref.digest, ref.kind, ref.version)


def accept(event: Event, offset: int) -> EventRow:
    """The sealer's view of a valid event: canonical bytes, leaf hash, lineage it records."""
    canonical = canonical_event_bytes(event)
    return EventRow(
        event_id=event.event_id,
        canonical=canonical,
        leaf_hash=leaf_hash(canonical),
        event_time=event.event_time_us,
        event_type=event.event_type.value,
        run_id=event.run.run_id,
        parent_run_id=event.run.parent_run_id,
        job_namespace=event.job.namespace,
        job_name=event.job.name,
        inputs=tuple(_artifact(ref) for ref in event.inputs),
        outputs=tuple(_artifact(ref) for ref in event.outputs),
        source_offset=offset,
    )


@dataclass(frozen=True, slots=True)
class Screened:
    """One record after decoding and validation: its events in order, or why it has none."""

    record: SourceRecord
    events: list[EventRow]
    rejected: Rejected | None = None


def screen(record: SourceRecord, *, openlineage_topic: str, max_bytes: int) -> Screened:
    """Decode and validate one record: the fast reader first, the general path for what it declines."""
    if record.value is not None and record.topic != openlineage_topic and len(record.value) <= max_bytes:
        try:
            fast = read_batch(record.value, record.offset)
        except Exception:  # a reader bug only costs the fast path: the general one decides
            fast = None
        if fast is not None:
            return Screened(record, fast)
    try:
        events = decode(record, openlineage=record.topic == openlineage_topic, max_bytes=max_bytes)
        return Screened(record, [accept(event, record.offset) for event in events])
    except InvalidEvent as exc:
        return Screened(record, [], Rejected(record, exc.reason, exc.detail))
    except Exception as exc:  # a decoder bug must dead-letter one record, never stop the shard
        return Screened(record, [], Rejected(record, "decoder_error", f"{type(exc).__name__}: {exc}"[:500]))


@dataclass(slots=True)
class Deduplicated:
    """What of a batch is new, what conflicts with an event recorded before, and how many repeats."""

    accepted: list[EventRow]
    rejected: list[Rejected]
    duplicates: int


def dedupe(screened: Sequence[Screened], sealed: dict[str, bytes]) -> Deduplicated:
    """Drop byte-identical repeats and reject conflicting reuses of an ``event_id``.

    What is sealed already (``sealed``: leaf hash by event id) is the reference, then the
    first occurrence in the batch: a repeat of a sealed event is a duplicate even when a
    conflicting version of it came earlier in the same batch.
    """
    seen = dict(sealed)
    result = Deduplicated([], [], 0)
    for item in screened:
        for event in item.events:
            earlier = seen.get(event.event_id)
            if earlier is None:
                seen[event.event_id] = event.leaf_hash
                result.accepted.append(event)
            elif earlier == event.leaf_hash:
                result.duplicates += 1
            else:
                result.rejected.append(conflicting(item.record, event.event_id))
    return result


def conflicting(record: SourceRecord, event_id: str) -> Rejected:
    """The rejection of an event that reuses a sealed ``event_id`` with a different body."""
    return Rejected(
        record,
        "conflicting_duplicate",
        f"event {event_id} was already recorded with different content; an event_id is an idempotency "
        "key and must never be reused for another event",
        event_id,
    )
