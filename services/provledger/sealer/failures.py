"""Why a block write failed, decided in one place: wait for the database, reload, or find the records.

The sealer must never stop on data: whatever a client manages to put into a record, the worst
outcome is that record in the dead-letter topic. It must also never dead-letter a good record
because Postgres was down. So every exception out of a write is put in one of four classes::

    >>> import asyncpg
    >>> classify(asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence: 0x00"))
    <Failure.DATA: 'data'>
    >>> classify(ConnectionResetError())
    <Failure.OUTAGE: 'outage'>

``STALE``: :class:`StaleShard`, the compare-and-set on the shard head (``blocks_pkey``,
    ``events_pkey``, the consumer offset) lost a race. Reload the head and seal again.
``OUTAGE``: the database or broker is away or misconfigured, which no record causes and a
    record's dead letter would not cure. Whatever :func:`provledger.store.unavailable.is_unavailable`
    accepts (OS errors and timeouts, :class:`ServiceUnavailable`, a connection closed under us,
    SQLSTATE classes 08, 28, 3D, 53, 57, 58), and on top of it, because a writer must wait these
    out too rather than dead-letter good records: 40 (deadlock, serialization failure: a retry is
    the cure), 3F and 42 (no such schema; insufficient privilege, undefined table or column: a
    role or a migration is missing) and 55 (object in use, lock not available). Wait and retry
    forever; never dead-letter.
``DATA``: the values of the block. SQLSTATE classes 22 (a value Postgres cannot hold: NUL in
    text, an out-of-range time or number), 23 (a constraint other than the head's, which
    ``store.blocks`` already turns into :class:`StaleShard`), 54 (a program limit, e.g. an
    index row larger than a btree page); ``OverflowError`` (a time beyond ``datetime``),
    ``ValueError`` (``UnicodeEncodeError``; asyncpg's client-side ``DataError``). Split the
    batch until the records are found, dead-letter them as ``unsealable``, seal the rest.
``FATAL``: a :class:`~provledger.errors.ConfigurationError`, such as the sealer's key retired by a
    rotation or a shard of another log (:class:`~.shardlog.StandDown`). Sealing on would sign
    blocks that fail verification, whatever the records: the sealer stops, nothing is
    dead-lettered.
``UNKNOWN``: anything else, SQLSTATE classes 25 (transaction state) and XX (internal error)
    included. Retry once; a second failure counts as ``DATA``: a fluke costs a retry, and a
    deterministic failure a dead letter instead of the whole shard.
"""

from __future__ import annotations

import enum

import asyncpg

from provledger.errors import ConfigurationError, StaleShard
from provledger.store.unavailable import UNAVAILABLE_SQLSTATE_CLASSES, is_unavailable, sqlstate_class


class Failure(enum.Enum):
    """What a failed write means for the records it carried."""

    STALE = "stale"
    OUTAGE = "outage"
    DATA = "data"
    FATAL = "fatal"
    UNKNOWN = "unknown"


#: SQLSTATE classes the sealer waits out beyond the shared "unavailable" ones; see the module table.
WRITE_RETRY_CLASSES = frozenset({"3F", "40", "42", "55"})

#: SQLSTATE classes (first two characters) by what they mean for the block; see the module table.
SQLSTATE_CLASSES: dict[str, Failure] = {
    **dict.fromkeys(UNAVAILABLE_SQLSTATE_CLASSES | WRITE_RETRY_CLASSES, Failure.OUTAGE),
    "22": Failure.DATA,
    "23": Failure.DATA,
    "54": Failure.DATA,
}


def classify(exc: BaseException) -> Failure:
    """The class of ``exc`` as a block write's failure (module table).

    The order matters: asyncpg's client-side ``DataError`` (a value it cannot encode) is both an
    ``InterfaceError`` and a ``ValueError``, and it is data.
    """
    if isinstance(exc, StaleShard):
        return Failure.STALE
    if isinstance(exc, ConfigurationError):
        return Failure.FATAL
    if isinstance(exc, asyncpg.PostgresError):
        return SQLSTATE_CLASSES.get(sqlstate_class(exc), Failure.UNKNOWN)
    if isinstance(exc, OverflowError | ValueError):
        return Failure.DATA
    if is_unavailable(exc):
        return Failure.OUTAGE
    return Failure.UNKNOWN


#: Longest error message kept in a dead letter's detail; the header itself is capped at 2 KiB.
MAX_MESSAGE_CHARS = 1000


def describe(exc: BaseException) -> str:
    """What a person reading the dead letter needs: the exception's class, SQLSTATE and message."""
    sqlstate = getattr(exc, "sqlstate", None)
    message = str(exc)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    state = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return f"the block holding this record could not be written: {type(exc).__name__}{state}: {message}"
