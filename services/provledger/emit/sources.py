"""Events read from JSON or JSON-lines text, each good one or bad one with where it was.

``provledger emit`` reads files that people write and tools export, so a bad line is expected:
it becomes a :class:`BadInput` naming the source, the line (or array item), the format it was
read in and the reason, and the lines around it still go through.

A source is taken whole as one JSON document when it parses as one: an object is one event,
an array is one event per item. Otherwise it is JSON lines: one event per non-blank line.

Unless the caller names a format, each event's format is told from its keys, because the two
formats spell the same fields differently (:data:`MARKS`): an OpenLineage RunEvent has
camelCase ``schemaURL``, ``eventTime``, ``eventType`` and ``run.runId``; a native event has
snake_case ``event_id``, ``event_time``, ``event_type`` and ``run.run_id``. An object with more
keys of the first kind than of the second is read as a RunEvent, any other as a native event.
JSON lines are judged line by line, so one file may mix the two. A JSON document is judged as
a whole, in the format most of its objects show, so that an item too broken to show one is
still read, and reported, in its document's terms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from provledger.errors import InvalidEvent
from provledger.events import Event
from provledger.events.native_json import event_from_json
from provledger.events.openlineage import from_openlineage, load_json

SourceFormat = Literal["native", "openlineage"]
FORMATS: tuple[SourceFormat, ...] = ("native", "openlineage")

PARSERS: dict[SourceFormat, Callable[[Any], Event]] = {
    "native": event_from_json,
    "openlineage": from_openlineage,
}

#: The keys only one format has; ``run.x`` is the key ``x`` inside ``run``.
MARKS: dict[SourceFormat, tuple[str, ...]] = {
    "openlineage": ("schemaURL", "eventTime", "eventType", "run.runId"),
    "native": ("event_id", "event_time", "event_type", "run.run_id"),
}
_NAMES: dict[SourceFormat, str] = {"native": "a native event", "openlineage": "an OpenLineage RunEvent"}

#: Why an event was read in its format: the caller named it, its own keys, its document's, or none.
Basis = Literal["format", "keys", "document", "default"]


@dataclass(frozen=True, slots=True)
class Reading:
    """The format an event was read in and why, so that a failure says what was assumed."""

    source_format: SourceFormat
    basis: Basis
    why: str

    def __str__(self) -> str:
        return f"read as {_NAMES[self.source_format]} ({self.why})"


@dataclass(frozen=True, slots=True)
class BadInput:
    """One line or array item that could not become an event, and why."""

    source: str
    where: str  # "line 7" or "item 3"
    reason: str
    detail: str
    #: None when the unit is not a JSON object, so was read in neither format.
    reading: Reading | None = None

    def __str__(self) -> str:
        read_as = "" if self.reading is None else f"{self.reading}: "
        return f"{self.source}: {self.where}: {read_as}{self.reason}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Parsed:
    """The units of one source: ``(where, text or decoded JSON)`` in order.

    ``document`` is true when the source is one JSON document, whose units are all decoded
    and whose format is judged as a whole.
    """

    source: str
    units: list[tuple[str, Any]]
    document: bool = False


def split_source(source: str, text: str) -> Parsed:
    """Cut a source into its events' texts (or decoded objects), each with its position."""
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, list):
        items = [(f"item {index}", item) for index, item in enumerate(whole, 1)]
        return Parsed(source, items, document=True)
    if isinstance(whole, dict):
        return Parsed(source, [("line 1", whole)], document=True)
    return Parsed(
        source,
        [(f"line {number}", line) for number, line in enumerate(text.splitlines(), 1) if line.strip()],
    )


def marks(document: Mapping[str, Any], source_format: SourceFormat) -> list[str]:
    """The keys of ``document`` that only ``source_format`` has, in :data:`MARKS` order."""
    run = document.get("run")
    inner: Mapping[str, Any] = run if isinstance(run, Mapping) else {}
    return [
        key
        for key in MARKS[source_format]
        if (key.removeprefix("run.") in inner if key.startswith("run.") else key in document)
    ]


def _shown(document: Mapping[str, Any]) -> SourceFormat | None:
    """The format ``document``'s keys show, or None when it has no key only one format has."""
    openlineage, native = marks(document, "openlineage"), marks(document, "native")
    if len(openlineage) > len(native):
        return "openlineage"
    return "native" if native else None


def detect(document: Mapping[str, Any]) -> Reading:
    """The format ``document``'s own keys show (the rule is in the module docstring)."""
    shown = _shown(document)
    if shown is None:
        return Reading(
            "native", "default", f"the default, as it has none of {', '.join(MARKS['openlineage'])}"
        )
    other: SourceFormat = "native" if shown == "openlineage" else "openlineage"
    why = f"it has {', '.join(marks(document, shown))}"
    if contrary := marks(document, other):
        why += f", against {', '.join(contrary)}"
    return Reading(shown, "keys", why)


class _DocumentFormat:
    """Reads every item of one JSON document in the format most of its objects show."""

    def __init__(self, items: list[Any]) -> None:
        shown = [_shown(item) for item in items if isinstance(item, Mapping)]
        self.counts = {name: shown.count(name) for name in FORMATS}
        self.source_format: SourceFormat = (
            "openlineage" if self.counts["openlineage"] > self.counts["native"] else "native"
        )
        self.total = len(items)

    def reading(self, document: Mapping[str, Any]) -> Reading:
        """``document``'s own reading if its keys agree with the document's format, else the document's."""
        own = detect(document)
        if own.basis == "keys" and own.source_format == self.source_format:
            return own
        if not any(self.counts.values()):
            return own  # the default: no item shows a format
        why = f"as {self.counts[self.source_format]} of the {self.total} events in this document are"
        if own.basis == "keys":
            why += f", though it has {', '.join(marks(document, own.source_format))}"
        return Reading(self.source_format, "document", why)


def events_of(parsed: Parsed, source_format: SourceFormat | None = None) -> Iterator[Event | BadInput]:
    """Each unit as an event, or as a :class:`BadInput` saying where, as what and why not.

    ``source_format`` reads every unit in that format; without it each unit's format is
    detected, line by line in JSON lines and as a whole in a JSON document.
    """
    detect_whole = parsed.document and source_format is None
    whole = _DocumentFormat([unit for _, unit in parsed.units]) if detect_whole else None
    for where, unit in parsed.units:
        try:
            document = load_json(unit) if isinstance(unit, str) else unit
            if not isinstance(document, dict):
                raise InvalidEvent("bad_type", f"expected a JSON object, not {type(document).__name__}")
        except InvalidEvent as exc:
            yield BadInput(parsed.source, where, exc.reason, exc.detail)
            continue
        if source_format is not None:
            reading = Reading(source_format, "format", f"--format {source_format}")
        else:
            reading = detect(document) if whole is None else whole.reading(document)
        try:
            yield PARSERS[reading.source_format](document)
        except InvalidEvent as exc:
            yield BadInput(parsed.source, where, exc.reason, exc.detail, reading)
