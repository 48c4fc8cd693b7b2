"""UUIDv7 event ids (RFC 9562 section 5.7): fresh ones, and deterministic ones for re-sent inputs.

``event_id`` is the ledger's idempotency key, so an id must be the same every time the same
event is sent. The SDK mints a fresh id once per event; inputs that carry no id of their own
(OpenLineage RunEvents, native JSON lines without ``event_id``) get a *derived* id instead: the
48-bit ``unix_ts_ms`` is the event time and the 74 bits RFC 9562 leaves to the implementation
(``rand_a`` and ``rand_b``) are the first bits of SHA-256 over the input's RFC 8785 canonical
JSON. Re-sending the same RunEvent therefore yields the same id and the sealer drops the copy,
while ids still sort by event time like any UUIDv7.
"""

from __future__ import annotations

import hashlib
import os
import time
from uuid import UUID

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62
_RAND_A_MASK = (1 << 12) - 1
_RAND_B_MASK = (1 << 62) - 1
_MAX_UNIX_MS = (1 << 48) - 1


def _uuid7(unix_ms: int, entropy: bytes) -> str:
    """Lay out a UUIDv7 from a millisecond timestamp and at least 10 bytes of entropy."""
    if not 0 <= unix_ms <= _MAX_UNIX_MS:
        raise ValueError(f"a UUIDv7 timestamp must fit 48 bits of Unix milliseconds, not {unix_ms}")
    bits = int.from_bytes(entropy[:10], "big")
    rand_a = (bits >> 62) & _RAND_A_MASK
    rand_b = bits & _RAND_B_MASK
    value = (unix_ms << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | rand_b
    return str(UUID(int=value))


def new_event_id() -> str:
    """A fresh UUIDv7 for an event being emitted now (74 random bits from the OS)."""
    return _uuid7(time.time_ns() // 1_000_000, os.urandom(10))


def derived_event_id(unix_ms: int, canonical_json: bytes) -> str:
    """The UUIDv7 of an input that has no id of its own: its time and SHA-256 of its RFC 8785 bytes.

    The same ``(unix_ms, canonical_json)`` always gives the same id, so re-sending dedupes.
    """
    return _uuid7(unix_ms, hashlib.sha256(canonical_json).digest())


def canonical_uuid(text: object) -> UUID | None:
    """``text`` as a UUID if it is one in canonical lowercase hyphenated form, else None.

    Only the canonical spelling is accepted, so two spellings of one UUID can never give two
    different canonical event encodings.
    """
    try:
        parsed = UUID(str(text))
    except ValueError:
        return None
    return parsed if isinstance(text, str) and str(parsed) == text else None
