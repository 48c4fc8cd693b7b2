"""``provledger emit``: send events from files or standard input to Kafka, with a progress bar and summary."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from provledger.config import KafkaSettings, load
from provledger.emit.emitter import SyncEmitter
from provledger.emit.sources import FORMATS, BadInput, Parsed, SourceFormat, events_of, split_source
from provledger.errors import ConfigurationError

#: Bad inputs listed one by one; past this, only counted (the summary still has every count).
MAX_LISTED_BAD = 50
STDIN = Path("-")


def _read(sources: list[Path]) -> list[Parsed]:
    parsed = []
    for path in sources:
        if path == STDIN:
            parsed.append(split_source("<stdin>", sys.stdin.read()))
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read {path}: {exc}") from exc
        parsed.append(split_source(str(path), text))
    return parsed


def _check_format(source_format: str | None) -> SourceFormat | None:
    if source_format is None:
        return None
    for known in FORMATS:
        if source_format == known:
            return known
    raise ConfigurationError(
        f"--format {source_format!r} is not one of {', '.join(FORMATS)}; "
        "leave it out to tell each event's format from its keys"
    )


def next_step(bad: BadInput) -> str:
    """What the user can do about ``bad``: fix the event, or how to have it read in the other format."""
    reading = bad.reading
    if reading is None:
        return (
            "write one JSON object per line (JSON lines), "
            "or make the file one JSON object or one array of objects"
        )
    if reading.basis == "format":
        return (
            f"fix the events named above, or leave out --format {reading.source_format} "
            "to read each event in the format its keys show"
        )
    if reading.basis == "document":
        return (
            "a JSON document is read in one format: put native events and OpenLineage RunEvents "
            "in separate files, or write them as JSON lines, which are read line by line"
        )
    if reading.source_format == "openlineage":
        return (
            "fix the RunEvents named above (OpenLineage spec 2-x), "
            "or pass --format native to read every event as native"
        )
    return (
        "fix the native events named above, or pass --format openlineage to read every event as a RunEvent "
        "(without it, a RunEvent is told by its schemaURL, eventTime, eventType and run.runId)"
    )


def emit_command(sources: list[Path], source_format: str | None = None) -> int:
    """Send events from JSON / JSON-lines files (or stdin for ``-``) to Kafka; returns the exit code.

    ``source_format`` None tells each event's format from its keys (:mod:`provledger.emit.sources`).
    Good events are sent even when others are bad; the exit code is 1 if any input was bad, and
    each bad input is listed with the format it was read in, then what to do about it.
    Events the broker did not take raise ServiceUnavailable (exit 3).
    """
    checked = _check_format(source_format)
    parsed = _read(sources)
    settings = load(KafkaSettings)
    settings.require_kafka_bootstrap()
    console = Console(stderr=True)
    bad: list[BadInput] = []
    counts: dict[str, tuple[int, int]] = {}
    total = sum(len(p.units) for p in parsed)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with SyncEmitter(settings) as emitter, Progress(*columns, console=console) as progress:
        task = progress.add_task("emitting", total=total)
        for source in parsed:
            good = errors = 0
            for item in events_of(source, checked):
                if isinstance(item, BadInput):
                    errors += 1
                    if len(bad) < MAX_LISTED_BAD:
                        # Text, not markup: the input's own text may hold [brackets]. Soft-wrapped, so
                        # each bad input stays one line to grep, in a log as on a terminal.
                        line = Text.assemble(("bad input ", "red"), str(item))
                        console.print(line, highlight=False, soft_wrap=True)
                    bad.append(item)
                else:
                    emitter.emit(item)
                    good += 1
                progress.advance(task)
            counts[source.source] = (good, errors)
        progress.update(task, description="flushing")
        emitter.flush()
    _summary(console, counts, len(bad), emitter.topic)
    for step in dict.fromkeys(next_step(item) for item in bad):
        console.print(Text.assemble(("to fix: ", "yellow"), step), highlight=False, soft_wrap=True)
    return 1 if bad else 0


def _summary(console: Console, counts: dict[str, tuple[int, int]], bad: int, topic: str) -> None:
    table = Table(title=f"provledger emit → {topic}", title_justify="left")
    table.add_column("source")
    table.add_column("sent", justify="right")
    table.add_column("bad", justify="right")
    for source, (good, errors) in counts.items():
        table.add_row(source, str(good), str(errors))
    console.print(table)
    if bad > MAX_LISTED_BAD:
        console.print(f"{bad - MAX_LISTED_BAD} more bad inputs not listed", highlight=False)
