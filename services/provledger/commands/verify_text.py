"""What ``provledger verify`` prints: the event's own statement, then the checks, every string escaped.

A bundle is untrusted input, and so is every string in it: an event name, an attribute, an
error detail quoting a field. Printed raw, an ANSI escape sequence (``ESC [ 2 J``) rewrites the
user's terminal and a rich markup tag (``[/]``, ``[link=...]``) crashes or restyles the report.
So every bundle-derived string goes through :func:`printable` (control, format and separator
characters become visible ``\\x1b``-style escapes; a backslash is doubled, so the escaped text
is unambiguous) and into a :class:`rich.text.Text`, which rich never parses as markup.

Before the checks, :func:`event_statement` says in plain words what the event claims, decoded
from its canonical bytes: what was proven is this, not only that the checks passed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from provledger.events.canonical import decode_canonical
from provledger.events.model import ArtifactRef, Event
from provledger.events.openlineage import SUBMITTER_ATTRIBUTE

#: Unicode categories never printed as themselves: controls, format (bidi overrides), surrogates,
#: private use, unassigned, and line/paragraph separators.
_HIDDEN: Final = ("C", "Zl", "Zp")


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on written as a visible escape."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char).startswith(_HIDDEN):
            code = ord(char)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
        else:
            out.append(char)
    return "".join(out)


def plain(text: str, style: str = "") -> Text:
    """A rich text that shows ``text`` escaped and never parses it as markup."""
    return Text(printable(text), style=style)


@dataclass(frozen=True)
class Statement:
    """What the event states, as (label, value) lines; ``error`` when the bytes hold no event."""

    lines: tuple[tuple[str, str], ...]
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        """The lines for ``--json`` (escaping is JSON's own there)."""
        return {
            "lines": [{"label": label, "value": value} for label, value in self.lines],
            "error": self.error,
        }


def _artifact(ref: ArtifactRef) -> str:
    version = f" version {ref.version}" if ref.version is not None else ""
    return f"{ref.kind} {ref.namespace}/{ref.name}{version}, digest {ref.digest}"


def _lines(event: Event) -> list[tuple[str, str]]:
    lines = [
        ("event", f"{event.event_id}: {event.event_type.value} at {event.event_time.isoformat()}"),
        ("producer", event.producer),
        (
            "run",
            event.run.run_id
            + (f" (parent run {event.run.parent_run_id})" if event.run.parent_run_id else ""),
        ),
        ("job", f"{event.job.namespace}/{event.job.name}"),
    ]
    lines += [("used", _artifact(ref)) for ref in event.inputs] or [("used", "nothing recorded")]
    lines += [("produced", _artifact(ref)) for ref in event.outputs] or [("produced", "nothing recorded")]
    if event.payload_digest is not None:
        lines.append(("payload", f"kept off the ledger, digest {event.payload_digest}"))
    submitter = dict(event.attributes).get(SUBMITTER_ATTRIBUTE)
    lines.append(("submitted by", submitter if submitter is not None else "not recorded in the event"))
    lines += [("attribute", f"{key} = {value}") for key, value in event.attributes]
    if event.openlineage is not None:
        lines.append(("openlineage", f"the original RunEvent is kept ({len(event.openlineage)} bytes)"))
    return lines


def event_statement(canonical: bytes) -> Statement:
    """What the canonical bytes state; an error statement if they do not decode as an event."""
    try:
        return Statement(tuple(_lines(decode_canonical(canonical))))
    except Exception as exc:  # fastavro documents no exception hierarchy for hostile bytes
        return Statement(
            (), f"the canonical bytes do not decode as a provledger event ({type(exc).__name__})"
        )


def print_statement(console: Console, statement: Statement) -> None:
    """The event's claims, before any check, saying they are proven only if the checks pass."""
    if statement.error is not None:
        console.print(Text("The event states nothing readable: ", style="bold red") + plain(statement.error))
        return
    console.print(
        Text("What the event states (decoded from its canonical bytes; proven only if the checks pass):")
    )
    width = max(len(label) for label, _ in statement.lines)
    for label, value in statement.lines:
        console.print(Text(f"  {label.ljust(width)}  ") + plain(value))


def check_table(event_id: str | None, rows: list[tuple[str, str, str, str]]) -> Table:
    """The checks as a table: (name, status, style, detail), every bundle string escaped."""
    table = Table(title=Text("evidence of event ") + plain(event_id or "?"), title_justify="left")
    for column in ("check", "result", "detail"):
        table.add_column(column, overflow="fold")
    for name, status, style, detail in rows:
        table.add_row(plain(name), plain(status, style), plain(detail))
    return table
