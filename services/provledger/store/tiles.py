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


class ShardProofError(VerificationError):
    """A proof of one shard cannot be built from what is stored: the error names the shard."""

    def __init__(self, shard: int, message: str) -> None:
        super().__init__(message)
        self.shard = shard


_READ_TILES = """
SELECT DISTINCT ON (t.shard, t.tile_level, t.tile_index) t.shard, t.tile_level, t.tile_index, t.hashes
FROM unnest($1::int[], $2::int[], $3::bigint[], $4::int[]) AS want(shard, tile_level, tile_index, min_width)
JOIN merkle_tiles t ON t.shard = want.shard AND t.tile_level = want.tile_level
                   AND t.tile_index = want.tile_index AND t.width >= want.min_width
ORDER BY t.shard, t.tile_level, t.tile_index, t.width
"""


async def read_nodes_of(conn: Conn, wanted: Sequence[tuple[int, Sequence[NodeId]]]) -> list[list[bytes]]:
    """For each ``(shard, ids)``, the hashes of those perfect subtrees in order: one query for all.

    One round trip whatever the number of shards: the anchorer proves every moved shard's growth
    each tick, and at a thousand shards a query per shard costs more than the proofs themselves.
    """
    spans = [(shard, [node_tile(level, index) for level, index in ids]) for shard, ids in wanted]
    needed: dict[tuple[int, int, int], int] = {}
    for shard, shard_spans in spans:
        for span in shard_spans:
            key = (shard, span.tile_level, span.tile_index)
            needed[key] = max(needed.get(key, 0), span.start + span.count)
    if not needed:
        return [[] for _ in spans]
    rows = await conn.fetch(
        _READ_TILES,
        [shard for shard, _, _ in needed],
        [level for _, level, _ in needed],
        [index for _, _, index in needed],
        list(needed.values()),
    )
    tiles = {(row["shard"], row["tile_level"], row["tile_index"]): bytes(row["hashes"]) for row in rows}
    missing = sorted(set(needed) - set(tiles))
    if missing:
        shard = missing[0][0]
        lost = [key[1:] for key in missing if key[0] == shard]
        raise ShardProofError(shard, f"shard {shard} is missing stored tiles {lost}: run `provledger audit`")
    return [
        [node_from_tile(tiles[(shard, span.tile_level, span.tile_index)], span) for span in shard_spans]
        for shard, shard_spans in spans
    ]


async def read_nodes(conn: Conn, shard: int, ids: Sequence[NodeId]) -> list[bytes]:
    """The hashes of perfect subtrees ``ids`` of ``shard``, in order, in one query."""
    return (await read_nodes_of(conn, [(shard, ids)]))[0]


async def inclusion_proof(conn: Conn, shard: int, index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf ``index`` in ``shard``'s log at ``tree_size``."""
    plan = inclusion_nodes(index, tree_size)
    return plan.rehash(await read_nodes(conn, shard, plan.ids))


async def consistency_proof(conn: Conn, shard: int, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 consistency proof of ``shard``'s log from ``old_size`` to ``new_size``."""
    return (await consistency_proofs(conn, [(shard, old_size, new_size)]))[0]


async def consistency_proofs(conn: Conn, wanted: Sequence[tuple[int, int, int]]) -> list[list[bytes]]:
    """RFC 9162 consistency proofs ``(shard, old_size, new_size)`` of many shards, in one query."""
    plans = []
    for shard, old_size, new_size in wanted:
        try:
            plans.append(consistency_nodes(old_size, new_size))
        except ValueError as exc:  # a tree that shrank: what is stored contradicts itself
            raise ShardProofError(shard, f"shard {shard}: {exc}") from exc
    nodes = await read_nodes_of(
        conn, [(shard, plan.ids) for (shard, _, _), plan in zip(wanted, plans, strict=True)]
    )
    return [plan.rehash(hashes) for plan, hashes in zip(plans, nodes, strict=True)]


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
