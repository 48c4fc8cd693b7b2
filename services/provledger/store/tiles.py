"""Read Merkle nodes and proofs from the stored C2SP tlog-tiles, O(log n) rows per proof.

A node ``(level, index)`` lives in tile ``(level // 8, ...)``: stored as it is when its level is
a multiple of 8, otherwise rebuilt by hashing at most 128 hashes of that tile
(:func:`provledger.ledger.tiles.node_tile`). Tile rows are immutable versions of growing width;
any version wide enough holds the node, since a tile only ever grows at its right end.
"""

from __future__ import annotations

from collections.abc import Sequence

from provledger.errors import VerificationError
from provledger.events.rows import TileRow
from provledger.ledger.proofs import NodeId, consistency_nodes, inclusion_nodes
from provledger.ledger.tiles import node_from_tile, node_tile
from provledger.store.db import Conn

_READ_TILES = """
SELECT DISTINCT ON (t.tile_level, t.tile_index) t.tile_level, t.tile_index, t.hashes
FROM unnest($2::int[], $3::bigint[], $4::int[]) AS want(tile_level, tile_index, min_width)
JOIN merkle_tiles t ON t.shard = $1 AND t.tile_level = want.tile_level
                   AND t.tile_index = want.tile_index AND t.width >= want.min_width
ORDER BY t.tile_level, t.tile_index, t.width
"""


async def read_nodes(conn: Conn, shard: int, ids: Sequence[NodeId]) -> list[bytes]:
    """The hashes of perfect subtrees ``ids`` of ``shard``, in order, in one query."""
    spans = [node_tile(level, index) for level, index in ids]
    needed: dict[tuple[int, int], int] = {}
    for span in spans:
        key = (span.tile_level, span.tile_index)
        needed[key] = max(needed.get(key, 0), span.start + span.count)
    rows = await conn.fetch(
        _READ_TILES,
        shard,
        [level for level, _ in needed],
        [index for _, index in needed],
        list(needed.values()),
    )
    tiles = {(row["tile_level"], row["tile_index"]): bytes(row["hashes"]) for row in rows}
    missing = sorted(set(needed) - set(tiles))
    if missing:
        raise VerificationError(f"shard {shard} is missing stored tiles {missing}: run `provledger audit`")
    return [node_from_tile(tiles[(span.tile_level, span.tile_index)], span) for span in spans]


async def inclusion_proof(conn: Conn, shard: int, index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf ``index`` in ``shard``'s log at ``tree_size``."""
    plan = inclusion_nodes(index, tree_size)
    return plan.rehash(await read_nodes(conn, shard, plan.ids))


async def consistency_proof(conn: Conn, shard: int, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 consistency proof of ``shard``'s log from ``old_size`` to ``new_size``."""
    plan = consistency_nodes(old_size, new_size)
    return plan.rehash(await read_nodes(conn, shard, plan.ids))


async def read_tiles(conn: Conn, shard: int, coordinates: Sequence[tuple[int, int, int]]) -> list[TileRow]:
    """The stored tile versions ``(tile_level, tile_index, width)`` of ``shard``, exactly those."""
    if not coordinates:
        return []
    rows = await conn.fetch(
        "SELECT t.tile_level, t.tile_index, t.width, t.hashes FROM merkle_tiles t "
        "JOIN unnest($2::int[], $3::bigint[], $4::int[]) AS want(l, i, w) "
        "ON t.tile_level = want.l AND t.tile_index = want.i AND t.width = want.w WHERE t.shard = $1",
        shard,
        [c[0] for c in coordinates],
        [c[1] for c in coordinates],
        [c[2] for c in coordinates],
    )
    return [TileRow(r["tile_level"], r["tile_index"], r["width"], bytes(r["hashes"])) for r in rows]
