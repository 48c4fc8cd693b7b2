"""Parameters of Marquez's paths, checked at the edge: pages, times, and names holding slashes.

Marquez's UI percent-encodes each name into the path (``/namespaces/s3%3A%2F%2Flake/datasets``),
and provledger's names hold slashes (``s3://lake``, ``models/ctr-ranker``, ``prediction/<id>``),
which the server has already decoded in ``path``. So the namespace routes read the *raw* path
(ASGI ``raw_path``) and split it at the slashes the client wrote, decoding each segment alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final
from urllib.parse import unquote_to_bytes

from fastapi import Query, Request

from provledger.api.marquez_errors import MarquezError4xx
from provledger.api.params import in_utc
from provledger.store.marquez import MAX_OFFSET

#: Largest page Marquez's lists give (its UI asks for 20 to 100).
MAX_LIMIT: Final = 100
#: Longest name segment (Marquez: namespaces, datasets and jobs are at most 1024 characters).
MAX_NAME_CHARS: Final = 1024
#: Longest raw path a namespace route reads.
MAX_RAW_PATH: Final = 8 * 1024

Limit = Annotated[int, Query(ge=0, le=MAX_LIMIT, description=f"Items per page (most {MAX_LIMIT}).")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"Items to skip (most {MAX_OFFSET}); lists count to it.")
]
#: A time filter: RFC 3339 with an offset; empty means unset, as Marquez's UI sends it.
TimeText = Annotated[str, Query(max_length=64, description="RFC 3339 time with offset; empty: unset.")]


def segments(request: Request, prefix: str) -> list[str]:
    """The path's segments after ``prefix``, each percent-decoded on its own (UTF-8, no NUL)."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    raw = raw.split(b"?", 1)[0]
    if len(raw) > MAX_RAW_PATH:
        raise MarquezError4xx(414, f"the path is longer than {MAX_RAW_PATH} bytes")
    text = raw.decode("ascii", errors="replace")
    if not text.startswith(prefix):
        raise MarquezError4xx(404, f"no Marquez endpoint at {request.url.path}")
    return [_segment(part) for part in text[len(prefix) :].split("/")]


def _segment(part: str) -> str:
    try:
        name = unquote_to_bytes(part).decode("utf-8")
    except UnicodeDecodeError:
        raise MarquezError4xx(400, f"path segment {part[:80]!r} is not percent-encoded UTF-8") from None
    if not name:
        raise MarquezError4xx(400, "a name in the path is empty: percent-encode each name, slashes included")
    if "\x00" in name:
        raise MarquezError4xx(400, f"path segment {part[:80]!r} holds NUL, which no name may hold")
    if len(name) > MAX_NAME_CHARS:
        raise MarquezError4xx(400, f"a name in the path is longer than {MAX_NAME_CHARS} characters")
    return name


def moment(text: str, what: str, default: datetime) -> datetime:
    """``text`` as a UTC time, ``default`` when empty; 400 saying the format otherwise."""
    if not text:
        return default
    try:
        return in_utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+")))
    except ValueError as exc:
        raise MarquezError4xx(
            400,
            f"{what} {text[:64]!r} is not an RFC 3339 time with offset, e.g. 2026-01-31T12:00:00Z ({exc})",
        ) from None


EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME: Final = datetime(9999, 12, 31, tzinfo=UTC)
