"""Opaque keyset cursors: the last key of a page, as base64url JSON, and the page-size bounds."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Final

from fastapi import Query

from provledger.api.problems import ProblemError

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (default {DEFAULT_LIMIT}, most {MAX_LIMIT}).")
]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page; omit for the first.")
]


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


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list[str | int]:
    """The key a cursor names, checked to be ``kinds``; 400 if it was not made by this API."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(kinds)
        or not all(type(value) is kind for value, kind in zip(key, kinds, strict=True))
    ):
        raise invalid_cursor()
    return key
