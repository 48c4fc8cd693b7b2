"""Opaque keyset cursors: the last key of a page, as base64url JSON, and the page-size bounds.

A cursor comes back from the client, so it is input like any other: :func:`decode_cursor` checks
each value of the key against what its column can hold (an ``integer`` shard within 2**31 - 1, a
time within years 1..9999 in UTC, text without NUL and of bounded length) and answers 400
``invalid-cursor`` otherwise; a forged cursor never reaches Postgres or datetime arithmetic.

>>> decode_cursor(encode_cursor([7]), (SHARD_KEY,))
(7,)
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import Query

from provledger.api.params import INT4_MAX, INT8_MAX, in_utc
from provledger.api.problems import ProblemError

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
#: Longest cursor accepted; every cursor this API makes is far shorter.
MAX_CURSOR_CHARS: Final = 512

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (default {DEFAULT_LIMIT}, most {MAX_LIMIT}).")
]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_CHARS, description="next_cursor of the previous page; omit for the first."),
]

#: Checks one value of a decoded key and returns it as the store takes it; ValueError if it cannot be.
KeyPart = Callable[[object], Any]


def integer(low: int, high: int) -> KeyPart:
    """A JSON integer within ``[low, high]`` (a column's range); booleans and floats are not integers."""

    def check(value: object) -> int:
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"not an integer in [{low}, {high}]")
        return value

    return check


def text(max_chars: int) -> KeyPart:
    """A string Postgres text can hold: valid UTF-8 (no lone surrogate), no NUL, at most ``max_chars``."""

    def check(value: object) -> str:
        if not isinstance(value, str) or len(value) > max_chars or "\x00" in value:
            raise ValueError(f"not a string of at most {max_chars} characters without NUL")
        value.encode()  # a lone surrogate from a \ud800 escape raises UnicodeEncodeError, a ValueError
        return value

    return check


def moment(value: object) -> datetime:
    """An ISO 8601 time with offset, representable in UTC (what ``datetime.isoformat`` wrote)."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("not an ISO 8601 time")
    return in_utc(datetime.fromisoformat(value))


def uuid_key(value: object) -> uuid.UUID:
    """A UUID in its canonical text form."""
    if not isinstance(value, str) or len(value) != 36:
        raise ValueError("not a UUID")
    return uuid.UUID(value)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)

#: Key parts of the lists this API pages through, each within its column's range.
SHARD_KEY: Final = integer(0, INT4_MAX)
BIGINT_KEY: Final = integer(0, INT8_MAX)
#: A time as microseconds since the Unix epoch, within what ``datetime`` holds.
MICROS_KEY: Final = integer(
    (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MICRO,
    (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICRO,
)
#: 0 for the inputs of a run, 1 for its outputs.
SIDE_KEY: Final = integer(0, 1)
#: Text keys (run ids) are UUIDs today; the bound leaves room without letting a cursor carry a page.
TEXT_KEY: Final = text(256)


def encode_cursor(key: list[str | int]) -> str:
    """The cursor naming ``key``, the last item of a page."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def invalid_cursor() -> ProblemError:
    """The 400 for a cursor this API did not make."""
    return ProblemError(
        400,
        "invalid-cursor",
        "the cursor is not one this endpoint returned: pass next_cursor from the previous page "
        "unchanged, or omit it to start from the first page",
    )


def decode_cursor(cursor: str, parts: tuple[KeyPart, ...]) -> tuple[Any, ...]:
    """The key a cursor names, each value checked by its part; 400 if this API cannot have made it."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(parts):
            raise ValueError("wrong shape")
        return tuple(part(value) for part, value in zip(parts, key, strict=True))
    except (binascii.Error, ValueError, RecursionError):
        # binascii.Error, JSONDecodeError and UnicodeDecodeError are ValueErrors too.
        raise invalid_cursor() from None
