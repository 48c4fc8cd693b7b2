"""Request bodies read within bounds: size while streaming, gzip of exactly one member, JSON structure.

Three bounds stop a body from costing more than the ledger can afford, each before the cost is paid:

- **Size** (``max_ingest_bytes``): counted as chunks arrive, on the wire and after gunzip; a gzip
  member is inflated chunk by chunk with the output capped at ``limit + 1`` bytes, so a gzip bomb
  costs at most one byte more than the cap before it is refused with 413.
- **One gzip member, nothing after it.** SPEC: RFC 1952 section 2.2 lets a file hold several
  members; the OpenLineage HTTP transport sends one, and a reader that stops after the first
  silently drops the rest. Trailing bytes or a second member are refused with 400.
- **Structure** (:data:`MAX_JSON_NODES`): ``json.loads`` turns three bytes (``{},``) into a
  64-byte dict, so a body within the size cap can still cost ~25x its size in objects and seconds
  of CPU. Every JSON value, key and container needs one of ``,`` ``:`` ``{`` ``[`` (the first
  value of a container aside), so counting those bytes bounds the objects parsing would build,
  in C at memory speed, before one is built. Bytes inside strings count too, so the bound is
  conservative; a body it refuses is split into smaller batches.

A body that is a JSON array (a batch) is parsed one element at a time (:func:`json_items`): a
worker thread holds the GIL for one RunEvent, not the whole body (``json.loads`` of a maximal
batch held it for 50-120 ms here), and each element is validated and dropped before the next is
built, so a maximal batch peaks at ~2x its size (its text and its events), not ~5x.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final

from starlette.requests import Request

from provledger.api.gate import pause_for_loop
from provledger.api.problems import ProblemError, ProblemItem
from provledger.events.limits import json_structure

#: Bodies up to this size are read and validated inline; larger ones need a slot (:mod:`.gate`).
SMALL_BODY_BYTES: Final = 64 << 10
#: Most JSON nodes (values, keys, containers, counted from the bytes) in one ingest body. At most
#: ~70 bytes of Python objects each (a one-key dict), so one JSON value parsed in one call costs at
#: most ~35 MB and 50-120 ms of CPU with the GIL held (2-core machine, 2026); a batch is parsed per
#: RunEvent. A batch of 1000 RunEvents of ~8 KB and ~500 nodes each (schema facets included) fits.
MAX_JSON_NODES: Final = 500_000
#: Most plain bytes per gzip byte once a body has inflated past :data:`RATIO_FROM_BYTES`. JSON
#: compresses ~20x (1000 distinct RunEvents: 19x; 20,000 identical ones: 227x); a gzip bomb of
#: spaces ~1000x. Without it 16 KB on the wire cost 8 MiB of inflating (~30 ms of CPU) before the
#: size cap said no; with it, ~1 MiB (~1 ms).
MAX_GZIP_RATIO: Final = 256
RATIO_FROM_BYTES: Final = 1 << 20
#: Most bytes one call inflates, so the ratio is checked every so often, not once per chunk.
INFLATE_STEP: Final = 128 << 10


def too_large(limit: int) -> ProblemError:
    """The 413 for a body beyond ``limit`` bytes."""
    return ProblemError(
        413,
        "too-large",
        f"the body is larger than {limit} bytes (after decompression; PROVLEDGER_MAX_INGEST_BYTES): "
        "send fewer RunEvents per request",
    )


def _bad_gzip(why: str) -> ProblemError:
    return ProblemError(400, "bad-gzip", f"{why}: send exactly one gzip member and nothing after it")


class Gunzip:
    """Inflate one gzip member chunk by chunk, never holding more than ``limit + 1`` plain bytes."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._received = 0
        self.plain = bytearray()

    def feed(self, data: bytes) -> None:
        """Inflate ``data``; 413 past the limit or :data:`MAX_GZIP_RATIO`, 400 for invalid gzip or
        anything after the member."""
        self._received += len(data)
        while data:
            if self._inflater.eof:
                raise _bad_gzip(f"{len(data)} bytes follow the end of the gzip member (a second member?)")
            try:
                room = min(self._limit + 1 - len(self.plain), INFLATE_STEP)
                self.plain += self._inflater.decompress(data, room)
            except zlib.error as exc:
                raise _bad_gzip(f"the body is not valid gzip ({exc})") from None
            if len(self.plain) > self._limit:
                raise too_large(self._limit)
            # Against the input inflated so far, not all that arrived: a 16 KB bomb arrives in one
            # chunk, and against 16 KB it would be refused only at 4 MiB (~10 ms of CPU), not 1 MiB.
            consumed = self._received - len(self._inflater.unconsumed_tail)
            if len(self.plain) > RATIO_FROM_BYTES and len(self.plain) > MAX_GZIP_RATIO * consumed:
                raise ProblemError(
                    413,
                    "too-compressed",
                    f"the gzip body inflates more than {MAX_GZIP_RATIO}x (a compression bomb?): send it "
                    "uncompressed, or in smaller batches",
                )
            # Input left over is either held back by the output cap (unconsumed_tail: inflated
            # next round) or follows the member's end (unused_data).
            data = self._inflater.unconsumed_tail or self._inflater.unused_data

    def finish(self) -> bytearray:
        """The plain bytes; 400 if the member ended early (a truncated upload)."""
        if not self._inflater.eof:
            raise _bad_gzip("the gzip body is truncated")
        return self.plain


async def read_body(request: Request, limit: int, on_large: Callable[[], Awaitable[None]]) -> bytearray:
    """The body, gunzipped if ``Content-Encoding: gzip``, refusing more than ``limit`` bytes.

    ``on_large`` is awaited once, as soon as the body (on the wire or inflated) passes
    :data:`SMALL_BODY_BYTES`, before more of it is held: the caller takes a slot there.
    """
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise ProblemError(
            415,
            "unsupported-encoding",
            f"Content-Encoding {encoding!r:.40} is not supported: send gzip or none",
        )
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 19 or int(declared) > limit):
        raise too_large(limit)  # before a byte is read: what arrives on the wire is never inflated less
    gunzip = Gunzip(limit) if encoding == "gzip" else None
    raw, received, large = bytearray(), 0, False
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        if gunzip is None:
            raw += chunk
        else:
            gunzip.feed(chunk)
        if not large and max(received, len(gunzip.plain) if gunzip else 0) > SMALL_BODY_BYTES:
            large = True
            await on_large()
    # A bytearray, not bytes: converting would copy the whole body once more.
    return raw if gunzip is None else gunzip.finish()


def check_structure(body: bytes | bytearray) -> None:
    """413 ``too-complex`` if parsing ``body`` could build more than :data:`MAX_JSON_NODES` objects."""
    nodes = json_structure(body)
    if nodes > MAX_JSON_NODES:
        raise ProblemError(
            413,
            "too-complex",
            f"the body holds up to {nodes} JSON values, keys and containers (counting ',', ':', '{{' "
            f"and '['), more than the {MAX_JSON_NODES} one request may hold: send fewer RunEvents per "
            "request",
        )


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


#: JSON as RFC 8259 defines it: NaN and Infinity, which Python's json accepts, are refused.
_DECODER: Final = json.JSONDecoder(parse_constant=_not_json)
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")


def _malformed(detail: str) -> ProblemError:
    return ProblemError(
        400,
        "malformed-json",
        f"the body is not JSON ({detail}); send RunEvents as application/json",
        errors=[ProblemItem(location="body", reason="malformed_json", detail=detail)],
    )


def body_text(body: bytearray) -> str:
    """The body as text once :func:`check_structure` passed; ``body`` is emptied, so it and its
    text are not held together with the objects parsed from it."""
    check_structure(body)
    try:
        # Decoded as json.loads decodes bytes (UTF-8 as RFC 8259 section 8.1 requires, UTF-16/32 by
        # their BOM or NULs); done here because the body is a bytearray, which would be copied.
        text = body.decode(json.detect_encoding(bytes(body[:4])), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise _malformed(f"not {exc.encoding} text: {exc.reason} at byte {exc.start}") from None
    body.clear()
    return text


def json_value(text: str) -> Any:
    """The JSON value ``text`` holds, parsed in one call; 400 ``malformed-json`` if it is not JSON."""
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise _malformed(str(exc)[:200]) from None


def _skip_whitespace(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def json_items(text: str) -> Iterator[Any] | None:
    """The elements of the JSON array ``text`` holds, each parsed when asked for; None if not an array.

    Between elements a worker thread hands the GIL to the event loop (:func:`pause_for_loop`).
    Malformed JSON is found when reached: 400 ``malformed-json`` then.
    """
    start = _skip_whitespace(text, 0)
    if not text.startswith("[", start):
        return None

    def items() -> Iterator[Any]:
        try:
            at = _skip_whitespace(text, start + 1)
            if text.startswith("]", at):
                at = _skip_whitespace(text, at + 1)
            else:
                while True:
                    item, at = _DECODER.raw_decode(text, at)
                    yield item
                    pause_for_loop()
                    at = _skip_whitespace(text, at)
                    if not text.startswith((",", "]"), at):
                        raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
                    closed = text[at] == "]"
                    at = _skip_whitespace(text, at + 1)
                    if closed:
                        break
            if at != len(text):
                raise json.JSONDecodeError("Extra data", text, at)
        except (ValueError, RecursionError) as exc:
            raise _malformed(str(exc)[:200]) from None

    return items()
