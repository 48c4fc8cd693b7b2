"""C2SP tlog-tiles addressing: where each Merkle node lives in 256-hash tiles.

SPEC: C2SP tlog-tiles, "Merkle Tree": "the n-th tile at level l [...] is the
sequence of the following Merkle Tree Hashes, with i from 0 to 255:
MTH(D[(n * 256 + i) * 256**l : (n * 256 + i + 1) * 256**l])". So tile level L
stores the Merkle nodes of level 8L, and the 7 levels between two tile levels are
"reconstructed by hashing the leaves" of one tile. Tiles are served at
``tile/<L>/<N>[.p/<W>]`` and entry bundles at ``tile/entries/<N>[.p/<W>]``::

    >>> from provledger.ledger.tiles import node_tile, tile_path
    >>> node_tile(level=3, index=70)
    TileSpan(tile_level=0, tile_index=2, start=48, count=8)
    >>> tile_path(0, 1234067, width=112)
    'tile/0/x001/x234/067.p/112'

Pure functions only: the store decides where tiles are kept, the API serves them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from provledger.ledger.hashing import HASH_SIZE
from provledger.ledger.merkle import root

#: Merkle levels per tile level. SPEC: "a tile represents the entire subtree of height 8".
TILE_HEIGHT: Final = 8
#: Hashes in a full tile. SPEC: "Full tiles MUST be exactly 256 hashes wide, or 8,192 bytes."
TILE_WIDTH: Final = 1 << TILE_HEIGHT
#: SPEC: "<L> [...] MUST be a decimal ASCII integer between 0 and 63".
MAX_TILE_LEVEL: Final = 63

_PATH_RE: Final = re.compile(r"tile/(entries|0|[1-9]\d?)/((?:x\d{3}/)*\d{3})(?:\.p/([1-9]\d{0,2}))?")


@dataclass(frozen=True, slots=True)
class TileSpan:
    """The hashes of one tile whose perfect subtree is a given Merkle node.

    The node is the RFC 9162 root of ``count`` (a power of two, at most 128 for a
    node between tile levels, 1 for a node stored as it is) consecutive hashes
    starting at ``start`` in tile ``(tile_level, tile_index)``.
    """

    tile_level: int
    tile_index: int
    start: int
    count: int


def node_tile(level: int, index: int) -> TileSpan:
    """Where the Merkle node ``(level, index)`` can be read or rebuilt from."""
    if level < 0 or index < 0:
        raise ValueError(f"invalid node ({level}, {index})")
    tile_level, below = divmod(level, TILE_HEIGHT)
    if tile_level > MAX_TILE_LEVEL:
        raise ValueError(f"node level {level} is beyond the highest tile level")
    first = index << below
    return TileSpan(tile_level, first >> TILE_HEIGHT, first & (TILE_WIDTH - 1), 1 << below)


def node_from_tile(tile: bytes, span: TileSpan) -> bytes:
    """The node hash ``span`` describes, from the raw bytes of its (possibly partial) tile."""
    if len(tile) % HASH_SIZE:
        raise ValueError(f"a tile of {len(tile)} bytes is not a whole number of hashes")
    if (span.start + span.count) * HASH_SIZE > len(tile):
        raise ValueError(f"tile of {len(tile) // HASH_SIZE} hashes does not hold {span}")
    hashes = [tile[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(span.start, span.start + span.count)]
    return root(hashes)


def tile_width(tile_level: int, tile_index: int, tree_size: int) -> int:
    """How many hashes tile ``(tile_level, tile_index)`` holds in a tree of ``tree_size`` leaves.

    SPEC: "The partial tile at level l for a tree of size s has floor(s / 256**l)
    mod 256 entries." Returns 256 for a full tile and 0 for a tile that does not
    exist yet ("Empty tiles MUST NOT be served").
    """
    if tile_level < 0 or tile_index < 0 or tree_size < 0:
        raise ValueError(f"invalid tile ({tile_level}, {tile_index}) or tree size {tree_size}")
    hashes_at_level = tree_size >> (TILE_HEIGHT * tile_level)
    return max(0, min(TILE_WIDTH, hashes_at_level - tile_index * TILE_WIDTH))


def partial_tile_coordinates(tree_size: int) -> list[tuple[int, int, int]]:
    """``(tile_level, tile_index, width)`` of every non-empty partial tile of a tree of ``tree_size``."""
    coordinates = []
    level = 0
    while tree_size >> (TILE_HEIGHT * level):
        hashes_at_level = tree_size >> (TILE_HEIGHT * level)
        width = hashes_at_level % TILE_WIDTH
        if width:
            coordinates.append((level, hashes_at_level // TILE_WIDTH, width))
        level += 1
    return coordinates


def _encode_index(index: int) -> str:
    # SPEC: "zero-padded 3-digit path elements. All but the last path element
    # MUST begin with an x. For example, index 1234067 will be encoded as
    # x001/x234/067."
    if index < 0:
        raise ValueError(f"tile index {index} is negative")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is not between 1 and {TILE_WIDTH}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(tile_level: int, tile_index: int, width: int = TILE_WIDTH) -> str:
    """The tlog-tiles path of a Merkle tile, with ``.p/<W>`` when it is partial."""
    if not 0 <= tile_level <= MAX_TILE_LEVEL:
        raise ValueError(f"tile level {tile_level} is not between 0 and {MAX_TILE_LEVEL}")
    return f"tile/{tile_level}/{_encode_index(tile_index)}{_suffix(width)}"


def entry_bundle_path(tile_index: int, width: int = TILE_WIDTH) -> str:
    """The tlog-tiles path of the entry bundle beside level-0 tile ``tile_index``."""
    return f"tile/entries/{_encode_index(tile_index)}{_suffix(width)}"


def parse_tile_path(path: str) -> tuple[int | None, int, int]:
    """``(tile_level, tile_index, width)`` of a tile path; level ``None`` for an entry bundle.

    Strict: only the canonical encoding is accepted (no extra leading zeroes, no
    ``.p/256``), so each tile has exactly one path.
    """
    match = _PATH_RE.fullmatch(path)
    if match is None:
        raise ValueError(f"{path!r} is not a tlog-tiles path")
    level_text, index_text, width_text = match.groups()
    level = None if level_text == "entries" else int(level_text)
    if level is not None and level > MAX_TILE_LEVEL:
        raise ValueError(f"tile level {level} is above {MAX_TILE_LEVEL}")
    index = int(index_text.replace("x", "").replace("/", ""))
    width = TILE_WIDTH if width_text is None else int(width_text)
    if _encode_index(index) != index_text or width > TILE_WIDTH or (width_text and width == TILE_WIDTH):
        raise ValueError(f"{path!r} is not the canonical path of its tile")
    return level, index, width
