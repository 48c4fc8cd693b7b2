"""C2SP tlog-tiles reads of each shard's log, so standard tlog clients and witnesses can follow it.

SPEC: C2SP tlog-tiles: ``<prefix>/checkpoint`` is the latest signed checkpoint; tiles are at
``tile/<L>/<N>[.p/<W>]`` and entry bundles at ``tile/entries/<N>[.p/<W>]``; "Full tiles MUST be
exactly 256 hashes wide", a partial tile holds ``floor(s / 256**l) mod 256`` hashes, and an entry
bundle is each entry as a big-endian uint16 length followed by its bytes. Here the prefix is
``/tlog/<shard>`` and an entry is the event's canonical bytes, so the level-0 hashes are
``SHA-256(0x00 || entry)``.

Caching: a full tile or bundle never changes, so it is served ``max-age=31536000, immutable``;
a partial one is fixed for its width but may stop being served once the full tile exists, so it
is cached for an hour; the checkpoint moves with every block (``no-cache``). Tiles and bundles
are ``private`` (only the reader's own cache keeps them) unless ``PROVLEDGER_PUBLIC_READS=true``:
behind a token they hold what only token holders may read, and ``public`` would let a shared
cache (a CDN, a corporate proxy) hand them to anyone (SPEC: RFC 9111 section 3.5, a shared cache
may reuse an answer to a request with ``Authorization`` only if the answer says ``public``,
``s-maxage`` or ``must-revalidate``). With public reads anyone may fetch them anyway, so shared
caches may serve them, as a tlog-tiles log wants. The route sets ``Cache-Control`` itself, so
:class:`~provledger.api.headers.SecurityHeaders` leaves it be (no ``no-store``).
Anything beyond the latest checkpoint's tree is 404, like a tile not written yet.

The checkpoint carries the witnesses' cosignatures stored for it (:func:`checkpoint`).
"""

from __future__ import annotations

import struct
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Request, Response

from provledger.api.auth import read_access
from provledger.api.conn import connection
from provledger.api.ledger import MAX_SHARD, no_shard
from provledger.api.problems import ProblemError, responses
from provledger.ledger.tiles import TILE_WIDTH, parse_tile_path, tile_width
from provledger.store import reads, witnessed

router = APIRouter(
    prefix="/tlog/{shard}",
    tags=["tlog-tiles"],
    dependencies=[Depends(read_access)],
    responses=responses(401, 403, 404, 422, 503),
)

IMMUTABLE: Final = "max-age=31536000, immutable"
PARTIAL: Final = "max-age=3600"
#: SPEC: entries are length-prefixed with a big-endian uint16.
MAX_ENTRY_BYTES: Final = 0xFFFF

ShardNumber = Annotated[int, Path(ge=0, le=MAX_SHARD, description="Shard number (see /v1/shards).")]


@router.get(
    "/checkpoint",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Signed note: the sealer's signature, then any witness cosignatures.",
        }
    },
)
async def checkpoint(request: Request, shard: ShardNumber) -> Response:
    """The C2SP signed-note checkpoint of the shard's newest block, with its witness cosignatures.

    SPEC: C2SP tlog-tiles, "The Signed Tree Head MUST be served as a checkpoint [...] This
    endpoint is mutable, so its headers SHOULD prevent caching beyond a few seconds [...] The
    checkpoint MAY carry additional signatures of other types, by the log or otherwise." The
    cosignature lines (C2SP tlog-cosignature, type 0x04) stored for this checkpoint, those that
    verify under the witness key their row names, follow the sealer's signature, so a client
    that knows the witness keys can require them and any other one ignores them (SPEC: C2SP
    signed-note, "Verifiers MUST ignore signatures from unknown keys").

    Which checkpoint: always the newest block's, with whatever cosignatures it has collected so
    far (none until the anchorer's next tick has submitted it to the witnesses), not the newest
    witnessed one as Tessera serves when it witnesses. Reasons: the tiles, the entries and
    ``/v1`` all answer for the newest tree, and a monitor following this log sees every block
    without the anchoring interval's delay; serving only witnessed checkpoints would freeze this
    endpoint whenever every witness is down or witnesses are configured away, silently, which is
    a worse failure than an uncosigned checkpoint a client can refuse and fetch again. A client
    that must have cosignatures retries until the newest checkpoint carries them (at most one
    anchoring interval while the log is idle); every evidence bundle carries the smallest
    cosigned checkpoint covering its event with a consistency proof (a ``tlog-witness`` receipt),
    which is where offline verification gets them.
    """
    async with connection(request) as conn:
        found = await witnessed.newest_checkpoint(conn, shard)
        if found is None and await reads.tree_size(conn, shard) is None:
            raise no_shard(shard)
    if found is None:
        raise ProblemError(404, "no-checkpoint", f"shard {shard} has no sealed block yet, so no checkpoint")
    return Response(
        found.cosigned_note(), media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


def _beyond(shard: int, path: str, size: int) -> ProblemError:
    return ProblemError(
        404,
        "tile-not-found",
        f"{path} is not in shard {shard}'s tree of {size} leaves (see /tlog/{shard}/checkpoint); "
        "a full tile exists only once all 256 of its entries are sealed",
    )


def _bundle(entries: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(entry)) + entry for entry in entries)


@router.get(
    "/tile/{path:path}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "Concatenated 32-byte hashes, or an entry bundle.",
        },
        **responses(501),
    },
)
async def tile(request: Request, shard: ShardNumber, path: str) -> Response:
    """A Merkle tile ``<L>/<N>[.p/<W>]`` or an entry bundle ``entries/<N>[.p/<W>]``."""
    try:
        level, index, width = parse_tile_path(f"tile/{path}")
    except ValueError as exc:
        raise ProblemError(
            404, "not-a-tile-path", f"{exc}: tiles are tile/<L>/<N>[.p/<W>] as in C2SP tlog-tiles"
        ) from None
    async with connection(request) as conn:
        size = await reads.tree_size(conn, shard)
        if size is None:
            raise no_shard(shard)
        if width > tile_width(level or 0, index, size):
            raise _beyond(shard, f"tile/{path}", size)
        if level is None:
            entries = await reads.entries(conn, shard, index * TILE_WIDTH, width)
            body = None
        else:
            body = await reads.tile(conn, shard, level, index, width)
    missing = ProblemError(
        404, "tile-missing", f"shard {shard} has no stored tile/{path}: run `provledger audit`"
    )
    if level is None:
        if len(entries) != width:
            raise missing
        too_long = [len(entry) for entry in entries if len(entry) > MAX_ENTRY_BYTES]
        if too_long:
            raise ProblemError(
                501,
                "entry-too-large",
                f"an entry of {too_long[0]} bytes cannot be length-prefixed in a tlog-tiles bundle "
                f"(at most {MAX_ENTRY_BYTES}); fetch it as evidence from /v1/events/{{event_id}}/evidence",
            )
        body = _bundle(entries)
    elif body is None:
        raise missing
    lifetime = IMMUTABLE if width == TILE_WIDTH else PARTIAL
    return Response(
        body,
        media_type="application/octet-stream",
        headers={"Cache-Control": cache_control(request.app.state.settings.public_reads, lifetime)},
    )


def cache_control(public_reads: bool, lifetime: str) -> str:
    """``Cache-Control`` of a tile: ``public`` only when anyone may read it, else ``private``."""
    return f"{'public' if public_reads else 'private'}, {lifetime}"
