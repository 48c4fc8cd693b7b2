"""Command-line entry points of the emitter: ``provledger emit`` and ``provledger demo``."""

from __future__ import annotations

from pathlib import Path

from provledger.errors import NotYetImplemented


def emit_command(sources: list[Path], source_format: str) -> int:
    """Send events from JSON / JSON-lines files (or stdin for ``-``) to Kafka; returns the exit code."""
    raise NotYetImplemented("`provledger emit` is not built yet (issue 4: events and the emitter SDK).")


def demo_command(duration_s: float, inference_rate: float) -> int:
    """Simulate an ML platform emitting provenance; returns the exit code."""
    raise NotYetImplemented("`provledger demo` is not built yet (issue 4: events and the emitter SDK).")
