"""The event value types: small frozen classes that check the envelope's invariants when built.

Everything that reaches the ledger passes through :class:`Event`, so validation lives here, at
the edge: a digest is ``sha256:`` and 64 lowercase hex digits, ids are canonical UUIDs (the
event id a UUIDv7), times are timezone-aware and within years 1 to 9999, texts are Unicode
without NUL, sizes are bounded (every limit is in :mod:`provledger.events.limits`, which the fast
reader and the OpenLineage mapping share). A violation raises
:class:`~provledger.errors.InvalidEvent` whose ``reason`` is one of these stable codes (the
sealer copies it into dead-letter records):

``missing_field``, ``bad_type``, ``bad_event_id``, ``bad_run_id``, ``bad_event_time``,
``bad_event_type``, ``bad_producer``, ``bad_name``, ``bad_digest``, ``bad_kind``,
``bad_text`` (a NUL character or a lone surrogate), ``duplicate_attribute``, ``oversized``.

Attributes are kept sorted by key (keys are unique), so two events that differ only in the
order attributes were given are equal and encode to the same bytes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from provledger.errors import InvalidEvent
from provledger.events.ids import canonical_uuid, new_event_id
from provledger.events.limits import (
    MAX_ARTIFACTS,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_OPENLINEAGE_BYTES,
    MAX_TEXT_BYTES,
    text_problem,
    time_in_range,
)

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class EventType(StrEnum):
    """OpenLineage's run states, plus INFERENCE for prediction records."""

    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    OTHER = "OTHER"
    INFERENCE = "INFERENCE"


def _text(
    value: object, what: str, limit: int = MAX_TEXT_BYTES, reason: str = "bad_name", empty: bool = False
) -> str:
    if not isinstance(value, str):
        raise InvalidEvent("bad_type", f"{what} must be a string, not {type(value).__name__}")
    if not value and not empty:
        raise InvalidEvent(reason, f"{what} is empty")
    problem = text_problem(value, limit)
    if problem is not None:
        raise InvalidEvent(problem[0], f"{what} {problem[1]}")
    return value


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else _text(value, what)


def check_digest(value: object, what: str) -> str:
    """``value`` if it is ``sha256:`` followed by 64 lowercase hex digits, else InvalidEvent(bad_digest)."""
    if not isinstance(value, str) or _DIGEST.fullmatch(value) is None:
        raise InvalidEvent(
            "bad_digest", f"{what} must be 'sha256:' and 64 lowercase hex digits, not {value!r:.72}"
        )
    return value


def _check_uuid(value: object, what: str, reason: str) -> None:
    if canonical_uuid(value) is None:
        raise InvalidEvent(reason, f"{what} must be a UUID in lowercase hyphenated form, not {value!r:.80}")


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A dataset, model, checkpoint, prediction... named, and pinned by its content digest."""

    namespace: str
    name: str
    digest: str
    kind: str
    version: str | None = None

    def __post_init__(self) -> None:
        _text(self.namespace, "artifact namespace")
        _text(self.name, "artifact name")
        check_digest(self.digest, f"digest of artifact {self.name!r:.80}")
        if not isinstance(self.kind, str) or _KIND.fullmatch(self.kind) is None:
            raise InvalidEvent(
                "bad_kind", f"artifact kind must be a short lowercase word, not {self.kind!r:.60}"
            )
        _optional_text(self.version, "artifact version")

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> ArtifactRef:
        """Build from a decoded Avro (or JSON) record, validating it."""
        return cls(
            namespace=_field(record, "namespace"),
            name=_field(record, "name"),
            digest=_field(record, "digest"),
            kind=_field(record, "kind"),
            version=record.get("version"),
        )

    def to_avro(self) -> dict[str, Any]:
        """The record as fastavro writes it under the ``ArtifactRef`` schema."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "digest": self.digest,
            "kind": self.kind,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of a job; ``parent_run_id`` links a step to the run that started it."""

    run_id: str
    parent_run_id: str | None = None

    def __post_init__(self) -> None:
        _check_uuid(self.run_id, "run_id", "bad_run_id")
        if self.parent_run_id is not None:
            _check_uuid(self.parent_run_id, "parent_run_id", "bad_run_id")


@dataclass(frozen=True, slots=True)
class Job:
    """What runs: a pipeline step, a training script, an inference service."""

    namespace: str
    name: str

    def __post_init__(self) -> None:
        _text(self.namespace, "job namespace")
        _text(self.name, "job name")


def _field(record: Mapping[str, Any], key: str) -> Any:
    if not isinstance(record, Mapping):
        raise InvalidEvent("bad_type", f"expected an object holding {key!r}, got {type(record).__name__}")
    try:
        return record[key]
    except KeyError:
        raise InvalidEvent("missing_field", f"{key!r} is required") from None


def _artifacts(values: Iterable[ArtifactRef], side: str) -> tuple[ArtifactRef, ...]:
    refs = tuple(values)
    if len(refs) > MAX_ARTIFACTS:
        raise InvalidEvent("oversized", f"{len(refs)} {side}, more than {MAX_ARTIFACTS}")
    for ref in refs:
        if not isinstance(ref, ArtifactRef):
            raise InvalidEvent("bad_type", f"{side} must hold ArtifactRef values, not {type(ref).__name__}")
    return refs


def _attributes(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    checked: list[tuple[str, str]] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2 or not isinstance(pair[1], str):
            raise InvalidEvent(
                "bad_type", f"an attribute must be a (key, value) string pair, not {pair!r:.60}"
            )
        if len(checked) == MAX_ATTRIBUTES:
            raise InvalidEvent("oversized", f"more than {MAX_ATTRIBUTES} attributes")
        _text(pair[0], "attribute key")
        _text(pair[1], f"attribute {pair[0]!r:.80}", MAX_ATTRIBUTE_VALUE_BYTES, empty=True)
        checked.append(pair)
    checked.sort()
    for (key, _), (next_key, _) in itertools.pairwise(checked):
        if key == next_key:
            raise InvalidEvent("duplicate_attribute", f"attribute {key!r:.80} is given twice")
    return tuple(checked)


def attribute_pairs(attributes: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Attributes given as a mapping or as pairs, as the sorted pairs :class:`Event` holds."""
    items = attributes.items() if isinstance(attributes, Mapping) else attributes
    return _attributes(tuple(pair) if isinstance(pair, list) else pair for pair in items)


def unix_micros(moment: object) -> int:
    """Microseconds since the Unix epoch of an aware datetime, or InvalidEvent(bad_event_time)."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidEvent(
            "bad_event_time", f"event_time must be a timezone-aware datetime, not {moment!r:.60}"
        )
    return (moment - _EPOCH) // _MICROSECOND


def event_time_micros(moment: object) -> int:
    """:func:`unix_micros` of an event time; InvalidEvent(bad_event_time) outside years 1 to 9999 in UTC."""
    micros = unix_micros(moment)
    if not time_in_range(micros):
        raise InvalidEvent("bad_event_time", f"event_time {moment!r:.60} is outside years 1 to 9999 in UTC")
    return micros


def time_from_micros(micros: int) -> datetime:
    """The UTC datetime of a count of microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True)
class Event:
    """One provenance event (ARCHITECTURE.md section 2); invalid values never get built.

    ``inputs``, ``outputs`` and ``attributes`` accept any iterable and are stored as tuples,
    attributes sorted by key. ``event_time_us`` is ``event_time`` in microseconds since the
    Unix epoch, the unit the Avro schemas carry.
    """

    event_id: str
    event_time: datetime
    event_type: EventType
    producer: str
    run: Run
    job: Job
    inputs: tuple[ArtifactRef, ...] = ()
    outputs: tuple[ArtifactRef, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    payload_digest: str | None = None
    openlineage: bytes | None = None
    event_time_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        event_id = canonical_uuid(self.event_id)
        if event_id is None or event_id.version != 7:
            raise InvalidEvent(
                "bad_event_id", f"event_id must be a lowercase UUIDv7, not {self.event_id!r:.60}"
            )
        object.__setattr__(self, "event_time_us", event_time_micros(self.event_time))
        try:
            object.__setattr__(self, "event_type", EventType(self.event_type))
        except ValueError:
            raise InvalidEvent("bad_event_type", f"unknown event_type {self.event_type!r:.40}") from None
        producer = _text(self.producer, "producer", reason="bad_producer")
        if _URI_SCHEME.fullmatch(producer) is None:
            raise InvalidEvent("bad_producer", f"producer must be a URI, not {producer!r:.80}")
        if not isinstance(self.run, Run) or not isinstance(self.job, Job):
            raise InvalidEvent("bad_type", "run must be a Run and job a Job")
        object.__setattr__(self, "inputs", _artifacts(self.inputs, "inputs"))
        object.__setattr__(self, "outputs", _artifacts(self.outputs, "outputs"))
        object.__setattr__(self, "attributes", _attributes(self.attributes))
        if self.payload_digest is not None:
            check_digest(self.payload_digest, "payload_digest")
        if self.openlineage is not None and (
            not isinstance(self.openlineage, bytes) or len(self.openlineage) > MAX_OPENLINEAGE_BYTES
        ):
            raise InvalidEvent("oversized", f"openlineage must be bytes of at most {MAX_OPENLINEAGE_BYTES}")

    @classmethod
    def new(
        cls,
        event_type: EventType,
        *,
        job: Job,
        run: Run,
        producer: str,
        inputs: Iterable[ArtifactRef] = (),
        outputs: Iterable[ArtifactRef] = (),
        attributes: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        payload_digest: str | None = None,
        event_time: datetime | None = None,
    ) -> Event:
        """An event happening now (unless ``event_time`` is given), with a fresh UUIDv7 id."""
        return cls(
            event_id=new_event_id(),
            event_time=event_time or datetime.now(UTC),
            event_type=event_type,
            producer=producer,
            run=run,
            job=job,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            attributes=attribute_pairs(attributes),
            payload_digest=payload_digest,
        )

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Event:
        """Build from a record decoded under the ``Event`` schema (``event_time`` a datetime or micros)."""
        run = _field(record, "run")
        job = _field(record, "job")
        moment = _field(record, "event_time")
        if isinstance(moment, int) and not isinstance(moment, bool):
            if not time_in_range(moment):
                raise InvalidEvent("bad_event_time", f"event_time {moment} us is outside years 1 to 9999")
            moment = time_from_micros(moment)
        attributes = record.get("attributes", ())
        if not isinstance(attributes, list | tuple):
            raise InvalidEvent("bad_type", "attributes must be an array of {key, value}")
        return cls(
            event_id=_field(record, "event_id"),
            event_time=moment,
            event_type=_field(record, "event_type"),
            producer=_field(record, "producer"),
            run=Run(run_id=_field(run, "run_id"), parent_run_id=run.get("parent_run_id")),
            job=Job(namespace=_field(job, "namespace"), name=_field(job, "name")),
            inputs=tuple(ArtifactRef.from_avro(ref) for ref in _array(record, "inputs")),
            outputs=tuple(ArtifactRef.from_avro(ref) for ref in _array(record, "outputs")),
            attributes=tuple((_field(pair, "key"), _field(pair, "value")) for pair in attributes),
            payload_digest=record.get("payload_digest"),
            openlineage=record.get("openlineage"),
        )

    def to_avro(self) -> dict[str, Any]:
        """The record as fastavro writes it under the ``Event`` (or ``CanonicalEvent``) schema."""
        return {
            "event_id": self.event_id,
            "event_time": self.event_time_us,
            "event_type": self.event_type.value,
            "producer": self.producer,
            "run": {"run_id": self.run.run_id, "parent_run_id": self.run.parent_run_id},
            "job": {"namespace": self.job.namespace, "name": self.job.name},
            "inputs": [ref.to_avro() for ref in self.inputs],
            "outputs": [ref.to_avro() for ref in self.outputs],
            "attributes": [{"key": key, "value": value} for key, value in self.attributes],
            "payload_digest": self.payload_digest,
            "openlineage": self.openlineage,
        }

    def record_key(self) -> str:
        """The Kafka record key: the run id, or for INFERENCE the digest of the model used.

        Keying inference by model keeps one model's predictions in order on one partition
        however many serving replicas (runs) emit them.
        """
        if self.event_type is EventType.INFERENCE:
            for ref in self.inputs:
                if ref.kind == "model":
                    return ref.digest
        return self.run.run_id


def _array(record: Mapping[str, Any], key: str) -> list[Any] | tuple[Any, ...]:
    values = record.get(key, ())
    if not isinstance(values, list | tuple):
        raise InvalidEvent("bad_type", f"{key} must be an array")
    return values
