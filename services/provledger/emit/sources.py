"""Events read from JSON or JSON-lines text, each good one or bad one with where it was.

``provledger emit`` reads files that people write and tools export, so a bad line is expected:
it becomes a :class:`BadInput` naming the source, the line (or array item) and the reason, and
the lines around it still go through.

A source is taken whole as one JSON document when it parses as one: an object is one event,
an array is one event per item. Otherwise it is JSON lines: one event per non-blank line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True, slots=True)
class BadInput:
    """One line or array item that could not become an event, and why."""

    source: str
    where: str  # "line 7" or "item 3"
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.reason}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Parsed:
    """The units of one source: ``(where, text or decoded JSON)`` in order."""

    source: str
    units: list[tuple[str, Any]]


def split_source(source: str, text: str) -> Parsed:
    """Cut a source into its events' texts (or decoded objects), each with its position."""
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, list):
        return Parsed(source, [(f"item {index}", item) for index, item in enumerate(whole, 1)])
    if isinstance(whole, dict):
        return Parsed(source, [("line 1", whole)])
    return Parsed(
        source,
        [(f"line {number}", line) for number, line in enumerate(text.splitlines(), 1) if line.strip()],
    )


def events_of(parsed: Parsed, source_format: SourceFormat) -> Iterator[Event | BadInput]:
    """Each unit as an event, or as a :class:`BadInput` saying where and why not."""
    parse = PARSERS[source_format]
    for where, unit in parsed.units:
        try:
            document = load_json(unit) if isinstance(unit, str) else unit
            if not isinstance(document, dict):
                raise InvalidEvent("bad_type", f"expected a JSON object, not {type(document).__name__}")
            yield parse(document)
        except InvalidEvent as exc:
            yield BadInput(parsed.source, where, exc.reason, exc.detail)
