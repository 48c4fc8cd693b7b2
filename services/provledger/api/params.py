"""Bounds of request values, checked at the edge so nothing out of range reaches Postgres or datetime.

Postgres refuses what it cannot hold (an ``integer`` beyond 2**31 - 1, NUL in ``text``: SQLSTATE
22003 and 22021) and Python's ``datetime`` stops at year 9999; a request carrying such a value
is the client's mistake, so it is refused here with a 4xx that says which value and why, before
any query runs. :mod:`provledger.api.problems` still maps a data error from Postgres to 400, but
only as the last line of defence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime

#: Largest Postgres ``integer`` (shard numbers) and ``bigint`` (heights, sizes, artifact ids).
INT4_MAX: Final = 2**31 - 1
INT8_MAX: Final = 2**63 - 1
#: ECMA-262 pattern of text parameters: Postgres text cannot hold NUL (SQLSTATE 22021).
NO_NUL: Final = r"^[^\x00]*$"


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; ValueError if it has no offset or falls outside years 1..9999 in UTC.

    ``9999-12-31T23:59:59-23:59`` parses, but is in year 10000 once the offset is applied: no
    ``datetime`` (nor asyncpg's encoder) can hold it.
    """
    if moment.utcoffset() is None:
        raise ValueError("the time needs a UTC offset (Z or +hh:mm)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{moment.isoformat()} is outside 0001-01-01..9999-12-31 once converted to UTC"
        ) from None


def _optional_in_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else in_utc(moment)


#: A time query parameter (RFC 3339 with offset) that is representable in UTC.
UtcMoment = Annotated[AwareDatetime | None, AfterValidator(_optional_in_utc)]
