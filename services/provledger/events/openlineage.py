"""OpenLineage RunEvents (spec 2-x) to provledger events and back, without loss.

:func:`from_openlineage` validates the fields the ledger needs, maps them onto the envelope and
keeps the whole original as RFC 8785 canonical JSON in ``Event.openlineage``, so every facet
survives and :func:`to_openlineage` gives the original back. Events emitted natively map to a
RunEvent too, their content digests in the ``provledger_digest`` dataset facet and the rest of
the envelope in the ``provledger_event`` run facet; both are described by the JSON schema in
``docs/openlineage/provledger-facets.json``.

Ids: a RunEvent carries no event id, so one is derived (:func:`provledger.events.ids.derived_event_id`):
the UUIDv7 whose time is ``eventTime`` and whose other bits come from SHA-256 of the RunEvent's
RFC 8785 bytes. Re-sending the same RunEvent gives the same id, and the ledger keeps one copy.
A RunEvent carrying a ``provledger_event`` facet keeps the event id written there.

Submitter: the API passes ``submitter`` (the name of the token that posted the RunEvent), which
is written into the RunEvent itself, as the attribute :data:`SUBMITTER_ATTRIBUTE` of its
``provledger_event`` facet, before anything is derived from it: the RFC 8785 bytes the API
publishes, the derived event id and so the canonical bytes the sealer seals all carry it, and
the sealer, mapping those bytes without ``submitter``, reads it back unchanged. A RunEvent that
already carries that attribute is refused (``reserved_attribute``) rather than overwritten: a
client cannot name another submitter, and a silent rewrite would hide that one tried. The same
RunEvent sent under two tokens is two events (their ids differ); resent under one, it is one.
Only the API stamps it: a RunEvent or event written to Kafka directly carries no token, so any
submitter attribute it holds is only as trustworthy as the broker's write access.

Digests: an input or output dataset with a ``provledger_digest`` facet takes its digest, kind and
version from it. One without gets the digest of its RFC 8785 description (what its producer
declared, not its content) and the kind ``dataset``.

Reasons of rejection (besides those of :mod:`provledger.events.model`): ``malformed_json``,
``not_a_run_event``, ``unsupported_schema``, ``not_canonicalizable``; ``bad_text`` for a lone
surrogate anywhere in the RunEvent (RFC 8785 and UTF-8 cannot write one); ``oversized`` for a
RunEvent over :data:`~provledger.events.limits.MAX_OPENLINEAGE_BYTES`, found by a walk that stops
as soon as the RunEvent is too large, before anything is canonicalised, or over
:data:`~provledger.events.limits.MAX_OPENLINEAGE_NODES`, counted from its bytes before parsing.
An ``eventTime`` outside years 1 to 9999 in UTC, or before 1970, is ``bad_event_time``.

Order of the checks, and so the reason of a RunEvent with several faults: JSON text is first
counted for nodes from its bytes (``oversized``) and parsed (``malformed_json``); then, for text
and parsed documents alike, the spec URL, the eventTime and the job's names, then the rest. The
time and the names come before the rest because they are cheap to check and what follows
(canonicalising, the digests of datasets) is what a RunEvent costs. So a structure bomb with a
bad eventTime is ``oversized`` as text (the sealer's door) and ``bad_event_time`` as a parsed
document (the API's): refused either way, for a reason it has.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import rfc8785

from provledger.errors import InvalidEvent
from provledger.events.ids import derived_event_id
from provledger.events.limits import (
    MAX_ARTIFACTS,
    MAX_OPENLINEAGE_BYTES,
    MAX_OPENLINEAGE_NODES,
    json_structure,
)
from provledger.events.model import (
    ArtifactRef,
    Event,
    EventType,
    Job,
    Run,
    attribute_pairs,
    event_time_micros,
)

DIGEST_FACET = "provledger_digest"
EVENT_FACET = "provledger_event"
FACETS_SCHEMA = "https://github.com/provledger/provledger/blob/main/docs/openlineage/provledger-facets.json"
DIGEST_FACET_SCHEMA_URL = f"{FACETS_SCHEMA}#/$defs/ProvledgerDigestFacet"
EVENT_FACET_SCHEMA_URL = f"{FACETS_SCHEMA}#/$defs/ProvledgerEventFacet"
#: What a native event mapped to OpenLineage declares as its spec version.
RUN_EVENT_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#: The ``_producer`` of the facets this module writes.
FACET_PRODUCER = "https://github.com/provledger/provledger"

_SPEC_URL = re.compile(
    r"https?://openlineage\.io/spec/(\d+)-(\d+)-(\d+)/OpenLineage\.json#/(?:definitions|\$defs)/(\w+)"
)
_TIME_FRACTION = re.compile(r"(\.\d{6})\d+")
_OPENLINEAGE_TYPES = frozenset(EventType) - {EventType.INFERENCE}
#: The attribute naming the API token that submitted an ingested RunEvent.
SUBMITTER_ATTRIBUTE: Final = "provledger.submitter"


def _object(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        raise InvalidEvent("missing_field", f"{what} is required")
    if not isinstance(value, Mapping):
        raise InvalidEvent("bad_type", f"{what} must be an object, not {type(value).__name__}")
    return value


def _string(container: Mapping[str, Any], key: str, what: str) -> str:
    value = container.get(key)
    if value is None:
        raise InvalidEvent("missing_field", f"{what}.{key} is required")
    if not isinstance(value, str):
        raise InvalidEvent("bad_type", f"{what}.{key} must be a string")
    return value


def _run_id(value: object, what: str) -> str:
    """A run id in canonical form: OpenLineage allows any UUID spelling, the envelope one."""
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise InvalidEvent("bad_run_id", f"{what} must be a UUID, not {value!r:.60}") from None


def parse_event_time(text: str) -> datetime:
    """An ISO 8601 time with offset (OpenLineage ``eventTime``), fractions beyond microseconds cut."""
    try:
        moment = datetime.fromisoformat(_TIME_FRACTION.sub(r"\1", text))
    except ValueError:
        raise InvalidEvent("bad_event_time", f"eventTime {text!r:.60} is not ISO 8601") from None
    if moment.utcoffset() is None:
        raise InvalidEvent("bad_event_time", f"eventTime {text!r:.60} has no time zone offset")
    return moment


def canonical_json(value: object, what: str) -> bytes:
    """RFC 8785 canonical JSON of ``value``, or InvalidEvent(not_canonicalizable) naming ``what``."""
    try:
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except UnicodeError as exc:  # a lone surrogate in an object key
        raise InvalidEvent("bad_text", f"{what} is not Unicode text: {exc}"[:300]) from None
    except (rfc8785.CanonicalizationError, TypeError, RecursionError) as exc:
        raise InvalidEvent("not_canonicalizable", f"RFC 8785 cannot encode {what}: {exc}") from None


def check_size(document: object, limit: int = MAX_OPENLINEAGE_BYTES) -> None:
    """InvalidEvent(oversized) once a lower bound of ``document``'s RFC 8785 size passes ``limit``.

    Canonicalising first would spend time and memory on exactly the documents that are refused
    (a megabyte of ``{}`` is half a million objects); this walk visits each value at most once,
    without recursion, and stops at the first byte over. It also refuses a lone surrogate in any
    string (``bad_text``): no JSON text can hold one as UTF-8.
    """
    pending, size = [document], 0
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            try:
                size += len(value.encode()) + 2
            except UnicodeEncodeError:
                raise InvalidEvent(
                    "bad_text", f"a string in the RunEvent is not Unicode: {value!r:.60}"
                ) from None
        elif isinstance(value, Mapping):
            size += 2 * len(value) + 1  # braces, colons and commas
            for key, item in value.items():
                pending += (key, item)
        elif isinstance(value, list):
            size += len(value) + 1  # brackets and commas
            pending += value
        else:
            size += 1  # a number, true, false or null is at least one character
        if size > limit:
            raise InvalidEvent("oversized", f"the RunEvent is larger than {limit} bytes as RFC 8785 JSON")


def _check_spec(event: Mapping[str, Any]) -> None:
    url = _string(event, "schemaURL", "RunEvent")
    match = _SPEC_URL.fullmatch(url)
    if match is None or match.group(1) != "2":
        raise InvalidEvent("unsupported_schema", f"schemaURL {url!r:.100} is not an OpenLineage 2-x spec URL")
    if match.group(4) != "RunEvent":
        raise InvalidEvent(
            "not_a_run_event", f"a {match.group(4)} carries no run; only RunEvents are accepted"
        )


def _artifact(dataset: object, what: str) -> ArtifactRef:
    dataset = _object(dataset, what)
    namespace = _string(dataset, "namespace", what)
    name = _string(dataset, "name", what)
    facets = _object(dataset.get("facets") or {}, f"{what}.facets")
    digest_facet = facets.get(DIGEST_FACET)
    if digest_facet is not None:
        digest_facet = _object(digest_facet, f"{what}.facets.{DIGEST_FACET}")
        return ArtifactRef(
            namespace=namespace,
            name=name,
            digest=_string(digest_facet, "digest", f"{what}.facets.{DIGEST_FACET}"),
            kind=digest_facet.get("kind", "dataset"),
            version=digest_facet.get("version"),
        )
    version_facet = facets.get("version")
    version = version_facet.get("datasetVersion") if isinstance(version_facet, Mapping) else None
    declared = "sha256:" + hashlib.sha256(canonical_json(dataset, what)).hexdigest()
    return ArtifactRef(namespace=namespace, name=name, digest=declared, kind="dataset", version=version)


def _datasets(event: Mapping[str, Any], key: str) -> tuple[ArtifactRef, ...]:
    datasets = event.get(key) or []
    if not isinstance(datasets, list):
        raise InvalidEvent("bad_type", f"{key} must be an array of datasets")
    if len(datasets) > MAX_ARTIFACTS:
        raise InvalidEvent("oversized", f"{len(datasets)} {key}, more than {MAX_ARTIFACTS}")
    return tuple(_artifact(dataset, f"{key}[{index}]") for index, dataset in enumerate(datasets))


def load_json(document: bytes | str) -> object:
    """JSON text parsed, or InvalidEvent(malformed_json); no NaN or Infinity, which RFC 8785 lacks."""
    try:
        return json.loads(document, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent("malformed_json", str(exc)[:200]) from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def with_submitter(document: Mapping[str, Any], submitter: str) -> dict[str, Any]:
    """``document`` with ``submitter`` as its :data:`SUBMITTER_ATTRIBUTE`; the original is not changed.

    InvalidEvent(reserved_attribute) if it already names one (in any letter case, which a reader
    could take for the same key); a run, facet or attributes that is not an object is refused
    with the reason :func:`from_openlineage` gives it.
    """
    run = _object(document.get("run"), "run")
    facets = _object(run.get("facets") or {}, "run.facets")
    extra = facets.get(EVENT_FACET)
    facet = (
        _object(extra, f"run.facets.{EVENT_FACET}") if extra is not None else _facet(EVENT_FACET_SCHEMA_URL)
    )
    attributes = _object(facet.get("attributes") or {}, "attributes")
    if any(str(key).casefold() == SUBMITTER_ATTRIBUTE for key in attributes):
        raise InvalidEvent(
            "reserved_attribute",
            f"the attribute {SUBMITTER_ATTRIBUTE!r} is set by the API to the name of the token that "
            f"posted the RunEvent; remove it from run.facets.{EVENT_FACET}.attributes",
        )
    stamped = {**facet, "attributes": {**attributes, SUBMITTER_ATTRIBUTE: submitter}}
    return {**document, "run": {**run, "facets": {**facets, EVENT_FACET: stamped}}}


def from_openlineage(
    run_event: Mapping[str, Any] | bytes | str,
    max_bytes: int = MAX_OPENLINEAGE_BYTES,
    *,
    submitter: str | None = None,
) -> Event:
    """The provledger event of an OpenLineage RunEvent (a parsed object or its JSON text).

    ``max_bytes`` (at most :data:`~provledger.events.limits.MAX_OPENLINEAGE_BYTES`) bounds its
    RFC 8785 bytes: the API passes the record limit, since those bytes travel as one record.
    ``submitter`` (the API's token name) is sealed with the event: see :func:`with_submitter`.
    """
    max_bytes = min(max_bytes, MAX_OPENLINEAGE_BYTES)
    parsed: object = run_event
    if isinstance(run_event, bytes | str):
        _check_structure(
            run_event if isinstance(run_event, bytes) else run_event.encode("utf-8", "surrogatepass")
        )
        parsed = load_json(run_event)
    document = _object(parsed, "RunEvent")
    _check_spec(document)
    # The time and the job first: they are cheap, and canonicalising is what costs the most.
    moment = parse_event_time(_string(document, "eventTime", "RunEvent"))
    unix_ms = event_time_micros(moment) // 1000
    if unix_ms < 0:
        raise InvalidEvent("bad_event_time", "eventTime is before 1970")
    job = _object(document.get("job"), "job")
    job_ref = Job(_string(job, "namespace", "job"), _string(job, "name", "job"))
    if submitter is not None:
        document = with_submitter(document, submitter)
    check_size(document, max_bytes)
    original = canonical_json(document, "the RunEvent")
    if len(original) > max_bytes:
        raise InvalidEvent("oversized", f"RunEvent of {len(original)} bytes, more than {max_bytes}")
    _check_structure(original)
    run = _object(document.get("run"), "run")
    run_facets = _object(run.get("facets") or {}, "run.facets")
    state = document.get("eventType") or "OTHER"
    if state not in _OPENLINEAGE_TYPES:
        raise InvalidEvent("bad_event_type", f"eventType {state!r:.40} is not an OpenLineage run state")
    parent = run_facets.get("parent")
    parent_run = parent.get("run") if isinstance(parent, Mapping) else None
    parent_run_id = (
        _run_id(parent_run.get("runId"), "parent run id") if isinstance(parent_run, Mapping) else None
    )
    extra = run_facets.get(EVENT_FACET)
    extra = _object(extra, f"run.facets.{EVENT_FACET}") if extra is not None else {}
    return Event(
        event_id=extra.get("eventId") or derived_event_id(unix_ms, original),
        event_time=moment,
        event_type=extra.get("eventType") or EventType(state),
        producer=_string(document, "producer", "RunEvent"),
        run=Run(
            _run_id(_string(run, "runId", "run"), "run.runId"), extra.get("parentRunId") or parent_run_id
        ),
        job=job_ref,
        inputs=_datasets(document, "inputs"),
        outputs=_datasets(document, "outputs"),
        attributes=attribute_pairs(_object(extra.get("attributes") or {}, "attributes")),
        payload_digest=extra.get("payloadDigest"),
        openlineage=original,
    )


def _check_structure(text: bytes) -> None:
    """InvalidEvent(oversized) for a RunEvent of more than MAX_OPENLINEAGE_NODES JSON nodes.

    Checked on the text as it came, before it is parsed (what a structure bomb costs is the
    parsing), and again on the RFC 8785 text, which is what the rule is about.
    """
    nodes = json_structure(text)
    if nodes > MAX_OPENLINEAGE_NODES:
        raise InvalidEvent(
            "oversized",
            f"the RunEvent holds up to {nodes} JSON values, keys and containers, "
            f"more than {MAX_OPENLINEAGE_NODES}",
        )


def _facet(schema_url: str, **fields: object) -> dict[str, object]:
    facet: dict[str, object] = {"_producer": FACET_PRODUCER, "_schemaURL": schema_url}
    facet.update({key: value for key, value in fields.items() if value is not None})
    return facet


def digest_facet(ref: ArtifactRef) -> dict[str, object]:
    """The ``provledger_digest`` facet that carries ``ref``'s content digest on an OpenLineage dataset."""
    return _facet(DIGEST_FACET_SCHEMA_URL, digest=ref.digest, kind=ref.kind, version=ref.version)


def _dataset(ref: ArtifactRef) -> dict[str, object]:
    return {"namespace": ref.namespace, "name": ref.name, "facets": {DIGEST_FACET: digest_facet(ref)}}


def to_openlineage(event: Event) -> dict[str, Any]:
    """The OpenLineage RunEvent of ``event``: the original if it came from OpenLineage, else a mapping.

    A native event maps to a spec 2-0-2 RunEvent; INFERENCE becomes eventType OTHER, and the
    ``provledger_event`` facet keeps the id, the true type, the parent run, the attributes and
    the payload digest, so :func:`from_openlineage` gives the same envelope back.
    """
    if event.openlineage is not None:
        original: dict[str, Any] = json.loads(event.openlineage)
        return original
    state = event.event_type if event.event_type in _OPENLINEAGE_TYPES else EventType.OTHER
    extra = _facet(
        EVENT_FACET_SCHEMA_URL,
        eventId=event.event_id,
        eventType=event.event_type.value,
        parentRunId=event.run.parent_run_id,
        attributes=dict(event.attributes) or None,
        payloadDigest=event.payload_digest,
    )
    return {
        "eventType": state.value,
        "eventTime": event.event_time.isoformat(),
        "producer": event.producer,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": {"runId": event.run.run_id, "facets": {EVENT_FACET: extra}},
        "job": {"namespace": event.job.namespace, "name": event.job.name},
        "inputs": [_dataset(ref) for ref in event.inputs],
        "outputs": [_dataset(ref) for ref in event.outputs],
    }
