"""What the ledger can hold: one definition of every limit on event values, used at every edge.

An event enters through three doors: :class:`~provledger.events.model.Event` (the SDK, native
JSON, the general Avro decoder), the sealer's fast reader (:mod:`provledger.events.reader`, pure
and compiled) and the OpenLineage mapping (:mod:`provledger.events.openlineage`, which builds an
``Event``). All three take their limits from here, so a value one of them accepts the others
accept too (``tests/unit/events/test_events_edges.py`` checks it on generated hostile values).
A value is refused where it enters, with a specific reason, because past the edge it would stop
the ledger: Postgres rejects NUL in text (SQLSTATE 22021) and index rows over 2704 bytes
(SQLSTATE 54000), ``datetime`` overflows past year 9999, and a lone surrogate cannot be encoded
to UTF-8 at all.

Every text value MUST be valid Unicode without NUL, and at most its limit in **UTF-8 bytes**
(not characters: the limits exist for what Postgres and Kafka store, which is bytes). The two
longest indexed texts, an artifact's namespace and name, together with its digest stay under
Postgres' B-tree row limit.

    >>> text_problem("train\\x00", MAX_TEXT_BYTES)
    ('bad_text', 'contains a NUL character')
    >>> text_problem("é" * 600, MAX_TEXT_BYTES)
    ('oversized', 'is 1200 bytes of UTF-8, more than 1024')
    >>> text_problem("resnet", MAX_TEXT_BYTES) is None
    True
"""

from __future__ import annotations

from typing import Final

#: Longest namespace, name, kind, version, producer or attribute key, in UTF-8 bytes.
MAX_TEXT_BYTES: Final = 1024
#: Longest attribute value, in UTF-8 bytes.
MAX_ATTRIBUTE_VALUE_BYTES: Final = 8192
#: Most attributes on one event.
MAX_ATTRIBUTES: Final = 256
#: Most artifacts on one side (inputs or outputs) of one event.
MAX_ARTIFACTS: Final = 1024
#: Largest original OpenLineage RunEvent (RFC 8785 bytes) kept inside an event.
MAX_OPENLINEAGE_BYTES: Final = 1 << 20
#: Most JSON values, keys and containers in one RunEvent, counted as the bytes ``,`` ``:`` ``{``
#: ``[`` of its RFC 8785 text (:func:`json_structure`). Parsing and canonicalising cost ~1 us per
#: node: a megabyte of ``{}`` is 350,000 of them and 0.3 s of the sealer's CPU; 50,000 is far
#: more than the schema and column-lineage facets of a wide table need.
MAX_OPENLINEAGE_NODES: Final = 50_000
#: Most events in one Kafka record (an ``EventBatch``); the SDK writes at most 1000 by default.
MAX_BATCH_EVENTS: Final = 10_000
#: Default of the one maximum record size (``PROVLEDGER_MAX_RECORD_BYTES``): the SDK's batches,
#: the API's OpenLineage records, what the sealer decodes, and what its dead-letter producer
#: sends. 1 MiB is Kafka's default ``message.max.bytes``, so a stock broker takes every record.
DEFAULT_MAX_RECORD_BYTES: Final = 1 << 20

#: Earliest and latest event time, in microseconds since the Unix epoch: years 1 to 9999 in UTC,
#: what a ``datetime`` holds, less their very first and last microsecond, which asyncpg reads back
#: from Postgres as its naive stand-ins for -infinity and infinity (found by
#: ``tests/integration/store/test_fuzz_record_path.py``).
MIN_TIME_US: Final = -62_135_596_800_000_000 + 1
MAX_TIME_US: Final = 253_402_300_799_999_999 - 1


def text_problem(text: str, limit: int) -> tuple[str, str] | None:
    """Why ``text`` cannot be held, as (reason, detail), or None when it can.

    The reason is ``bad_text`` for a NUL or a lone surrogate, ``oversized`` for more than
    ``limit`` bytes of UTF-8.
    """
    if "\x00" in text:
        return "bad_text", "contains a NUL character"
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        return "bad_text", "contains a lone surrogate, which is not Unicode text"
    if size > limit:
        return "oversized", f"is {size} bytes of UTF-8, more than {limit}"
    return None


def json_structure(text: bytes | bytearray) -> int:
    """An upper bound on the JSON values, keys and containers ``text`` holds, counted in C.

    Every value, key and container but the first of its container needs one of ``,`` ``:`` ``{``
    ``[``; those bytes inside strings count too, so the bound is conservative. Canonicalising
    only writes escaped ones out (``\\u002c`` becomes ``,``), so the count of a RunEvent's
    text as sent is at most that of its RFC 8785 text: refusing on the first never refuses what
    the second would allow.
    """
    return 1 + text.count(b",") + text.count(b":") + text.count(b"{") + text.count(b"[")


def time_in_range(micros: int) -> bool:
    """Whether an event time (microseconds since the Unix epoch, UTC) lies in years 1 to 9999."""
    return MIN_TIME_US <= micros <= MAX_TIME_US
