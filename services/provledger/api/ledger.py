"""The ledger itself: shards and their heads, signed blocks, consistency proofs, public keys."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request

from provledger.api import models
from provledger.api.anchor_models import CoveredBlockOut
from provledger.api.auth import read_access
from provledger.api.conn import connection
from provledger.api.pagination import (
    BIGINT_KEY,
    DEFAULT_LIMIT,
    SHARD_KEY,
    Cursor,
    KeyPart,
    Limit,
    decode_cursor,
    encode_cursor,
    moment,
    text,
)
from provledger.api.params import INT4_MAX, INT8_MAX
from provledger.api.problems import ProblemError, responses
from provledger.ledger.block import BlockHeader
from provledger.ledger.evidence import header_fields
from provledger.store import anchors, reads
from provledger.store.tiles import consistency_proof

router = APIRouter(tags=["ledger"], dependencies=[Depends(read_access)], responses=responses(401, 403, 503))

#: Postgres ``integer`` and ``bigint`` bounds: larger numbers cannot name a shard or a height.
MAX_SHARD: Final = INT4_MAX
MAX_BIGINT: Final = INT8_MAX

ShardNumber = Annotated[int, Path(ge=0, le=MAX_SHARD, description="Shard number (see /v1/shards).")]
Height = Annotated[int, Path(ge=0, le=MAX_BIGINT, description="Block height within the shard.")]


def no_shard(shard: int) -> ProblemError:
    return ProblemError(404, "shard-not-found", f"there is no shard {shard}: list the shards at /v1/shards")


def _shard(row: dict[str, Any]) -> models.ShardOut:
    head = None
    if row["height"] is not None:
        head = models.Head(
            height=row["height"],
            tree_size=row["tree_size"],
            log_root=models.b64(row["log_root"]),
            block_hash=models.b64(row["block_hash"]),
            sealed_at=row["sealed_at"],
        )
    return models.ShardOut(
        shard=row["shard"],
        topic=row["topic"],
        partition=row["partition"],
        created_at=row["created_at"],
        head=head,
    )


def _block(row: dict[str, Any]) -> models.BlockOut:
    header = BlockHeader.from_bytes(bytes(row["header"]))
    return models.BlockOut.model_validate(
        {
            **header_fields(header),
            "header": models.b64(row["header"]),
            "signature": models.b64(row["signature"]),
            "block_hash": models.b64(row["block_hash"]),
            "checkpoint": row["note"],
        }
    )


def _after(cursor: str | None, part: KeyPart) -> Any:
    return None if cursor is None else decode_cursor(cursor, (part,))[0]


@router.get(
    "/v1/shards",
    response_model=models.ShardPage,
    responses={
        **responses(400, 422),
        **models.links(
            GetShard=("get_shard", {"shard": "$response.body#/items/0/shard"}),
            ListBlocks=("list_blocks", {"shard": "$response.body#/items/0/shard"}),
            GetCheckpoint=("checkpoint", {"shard": "$response.body#/items/0/shard"}),
            NextPage=("list_shards", {"cursor": "$response.body#/next_cursor"}),
        ),
    },
)
async def list_shards(
    request: Request, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> models.ShardPage:
    """Every shard (one partition of one ingested topic) with its latest block."""
    after = _after(cursor, SHARD_KEY)  # a bad cursor is a 400 before it costs a connection
    async with connection(request) as conn:
        rows = await reads.shards(conn, after, limit)
    last = rows[-1]["shard"] if len(rows) == limit else None
    return models.ShardPage(
        items=[_shard(row) for row in rows], next_cursor=None if last is None else encode_cursor([last])
    )


@router.get(
    "/v1/shards/{shard}",
    response_model=models.ShardOut,
    responses={
        **responses(404, 422),
        **models.links(
            GetHead=("get_block", {"shard": "$request.path.shard", "height": "$response.body#/head/height"}),
            Consistency=(
                "get_consistency",
                {"shard": "$request.path.shard", "from": "1", "to": "$response.body#/head/tree_size"},
            ),
        ),
    },
)
async def get_shard(request: Request, shard: ShardNumber) -> models.ShardOut:
    """One shard and its latest block."""
    async with connection(request) as conn:
        row = await reads.shard(conn, shard)
    if row is None:
        raise no_shard(shard)
    return _shard(row)


@router.get(
    "/v1/shards/{shard}/blocks",
    response_model=models.BlockPage,
    responses={
        **responses(400, 404, 422),
        **models.links(
            GetBlock=(
                "get_block",
                {"shard": "$request.path.shard", "height": "$response.body#/items/0/height"},
            ),
            NextPage=(
                "list_blocks",
                {"shard": "$request.path.shard", "cursor": "$response.body#/next_cursor"},
            ),
        ),
    },
)
async def list_blocks(
    request: Request, shard: ShardNumber, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> models.BlockPage:
    """The shard's signed blocks in height order."""
    after = _after(cursor, BIGINT_KEY)  # a bad cursor is a 400 whether or not the shard exists
    async with connection(request) as conn:
        if await reads.tree_size(conn, shard) is None:
            raise no_shard(shard)
        rows = await reads.blocks(conn, shard, after, limit)
    last = rows[-1]["height"] if len(rows) == limit else None
    return models.BlockPage(
        items=[_block(row) for row in rows], next_cursor=None if last is None else encode_cursor([last])
    )


@router.get(
    "/v1/shards/{shard}/blocks/{height}",
    response_model=CoveredBlockOut,
    responses={
        **responses(404, 422),
        **models.links(
            Consistency=(
                "get_consistency",
                {"shard": "$request.path.shard", "from": "1", "to": "$response.body#/tree_size"},
            ),
            GetAnchor=("get_anchor", {"seq": "$response.body#/anchored_by"}),
        ),
    },
)
async def get_block(request: Request, shard: ShardNumber, height: Height) -> CoveredBlockOut:
    """One signed block header, decoded, with the shard checkpoint sealed with it and its anchor.

    ``anchored_by`` is the earliest statement whose head for the shard is at or above the block:
    the one an evidence bundle of any event in the block links its receipts to.
    """
    async with connection(request) as conn:
        row = await reads.block(conn, shard, height)
        if row is None:
            raise ProblemError(
                404,
                "block-not-found",
                f"shard {shard} has no block at height {height}: its latest height is in /v1/shards/{shard}",
            )
        seq = await anchors.earliest_covering(conn, shard, height)
    return CoveredBlockOut.of(_block(row), seq)


@router.get(
    "/v1/shards/{shard}/consistency", response_model=models.ConsistencyOut, responses=responses(400, 404, 422)
)
async def get_consistency(
    request: Request,
    shard: ShardNumber,
    from_size: Annotated[int, Query(alias="from", ge=1, le=MAX_BIGINT, description="Older tree size.")],
    to_size: Annotated[int, Query(alias="to", ge=1, le=MAX_BIGINT, description="Newer tree size.")],
) -> models.ConsistencyOut:
    """RFC 9162 consistency proof that the shard's log at ``to`` extends the log at ``from``."""
    async with connection(request) as conn:
        size = await reads.tree_size(conn, shard)
        if size is None:
            raise no_shard(shard)
        if not from_size <= to_size <= size:
            raise ProblemError(
                400,
                "bad-tree-sizes",
                f"need 1 <= from <= to <= {size} (shard {shard}'s current tree size), got from={from_size} "
                f"to={to_size}",
            )
        proof = await consistency_proof(conn, shard, from_size, to_size)
        from_root = await reads.root_at(conn, shard, from_size)
        to_root = await reads.root_at(conn, shard, to_size)
    return models.ConsistencyOut(
        shard=shard,
        from_size=from_size,
        to_size=to_size,
        from_root=models.b64(from_root),
        to_root=models.b64(to_root),
        proof=[models.b64(h) for h in proof],
    )


def _role(value: object) -> str:
    if value not in reads.KEY_ROLES:
        raise ValueError(f"not one of {reads.KEY_ROLES}")
    return str(value)


def _public_key(value: object) -> bytes:
    raw = base64.b64decode(text(44)(value), validate=True)
    if len(raw) != 32:
        raise ValueError("not a base64 Ed25519 public key")
    return raw


#: The keys list's order: ``(valid_from, role, public_key)`` names each sealer or anchorer key once.
_KEY_CURSOR: Final = (moment, _role, _public_key)


@router.get(
    "/v1/keys",
    response_model=models.KeyPage,
    responses={
        **responses(400, 422),
        **models.links(NextPage=("list_keys", {"cursor": "$response.body#/next_cursor"})),
    },
)
async def list_keys(request: Request, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT) -> models.KeyPage:
    """The sealer's and the anchorer's public keys, each with its role, in the order they took over.

    Trust each key only for its role: a statement signed with a sealer key, or a block with an
    anchorer key, is a forgery by whoever holds the one key (ARCHITECTURE.md section 3).
    """
    after = None if cursor is None else decode_cursor(cursor, _KEY_CURSOR)  # a 400 before a connection
    async with connection(request) as conn:
        rows = await reads.keys(conn, after, limit)
    last = rows[-1] if len(rows) == limit else None
    return models.KeyPage(
        items=[
            models.KeyOut(
                role=r["role"],
                key_id=bytes(r["key_id"]).hex(),
                name=r["name"],
                public_key=models.b64(r["public_key"]),
                verifier_key=r["verifier_key"],
                valid_from=r["valid_from"],
                valid_until=r["valid_until"],
            )
            for r in rows
        ],
        next_cursor=None
        if last is None
        else encode_cursor([last["valid_from"].isoformat(), last["role"], models.b64(last["public_key"])]),
    )
