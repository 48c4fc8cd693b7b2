"""Times as Postgres columns hold them: the rows (:mod:`provledger.events.rows`) carry microseconds.

The sealer's rows keep every time as an integer count of microseconds since the Unix epoch, as
the canonical event bytes and block headers do; the store converts at the last moment, to the
``timestamptz`` values asyncpg writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(micros: int) -> datetime:
    """A timezone-aware datetime from microseconds since the Unix epoch (exact, no float)."""
    return _EPOCH + timedelta(microseconds=micros)
