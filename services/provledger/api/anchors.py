"""The anchorer's signed shard-heads statements and their receipts, newest first.

A client follows a block to the statement that anchors it (``anchored_by`` of
``/v1/shards/{shard}/blocks/{height}``), then to ``/v1/anchors/{seq}`` for the receipts that
prove when the statement existed. A page costs three queries whatever its size: statements, their
heads and their receipt kinds, none per statement. A statement names every shard, so a page
holds at most :data:`MAX_STATEMENTS` of them, not the 1000 items of other lists.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query, Request

from provledger.api import models
from provledger.api.anchor_models import AnchoredHeadOut, StatementDetail, StatementOut, StatementPage
from provledger.api.auth import read_access
from provledger.api.conn import connection
from provledger.api.pagination import BIGINT_KEY, Cursor, decode_cursor, encode_cursor
from provledger.api.params import INT8_MAX
from provledger.api.problems import ProblemError, responses
from provledger.ledger.checkpoint import Checkpoint
from provledger.ledger.note import parse_note
from provledger.store import anchors
from provledger.store.anchors import StoredStatement

router = APIRouter(tags=["anchors"], dependencies=[Depends(read_access)], responses=responses(401, 403, 503))

#: A statement carries one head per shard (1,024 shards: ~150 KiB of JSON), so pages stay short.
DEFAULT_STATEMENTS: Final = 20
MAX_STATEMENTS: Final = 100

StatementLimit = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_STATEMENTS,
        description=f"Statements per page (default {DEFAULT_STATEMENTS}, most {MAX_STATEMENTS}).",
    ),
]
Seq = Annotated[int, Path(ge=1, le=INT8_MAX, description="Statement sequence number (see /v1/anchors).")]


def _statement(stored: StoredStatement, kinds: list[str]) -> StatementOut:
    # The origin, count and root shown are read from the signed note itself, not from columns
    # beside it: what a client sees is what the anchorer signed.
    body = Checkpoint.parse(parse_note(stored.note).text)
    return StatementOut(
        seq=stored.seq,
        created_at=stored.created_at,
        origin=body.origin,
        shard_count=body.size,
        root=models.b64(body.root),
        note=stored.note,
        heads=[
            AnchoredHeadOut(
                shard=h.shard,
                height=h.height,
                tree_size=h.tree_size,
                log_root=models.b64(h.log_root),
                block_hash=models.b64(h.block_hash),
            )
            for h in stored.heads
        ],
        receipt_kinds=kinds,
    )


@router.get(
    "/v1/anchors",
    response_model=StatementPage,
    responses={
        **responses(400, 422),
        **models.links(
            GetAnchor=("get_anchor", {"seq": "$response.body#/items/0/seq"}),
            GetHead=(
                "get_block",
                {
                    "shard": "$response.body#/items/0/heads/0/shard",
                    "height": "$response.body#/items/0/heads/0/height",
                },
            ),
            NextPage=("list_anchors", {"cursor": "$response.body#/next_cursor"}),
        ),
    },
)
async def list_anchors(
    request: Request, cursor: Cursor = None, limit: StatementLimit = DEFAULT_STATEMENTS
) -> StatementPage:
    """The anchorer's signed shard-heads statements, newest first, each with its heads and receipt kinds."""
    # A bad cursor is a 400 before it costs a connection.
    before = None if cursor is None else decode_cursor(cursor, (BIGINT_KEY,))[0]
    async with connection(request) as conn:
        stored = await anchors.statements_page(conn, before, limit)
        kinds = await anchors.receipt_kinds(conn, [s.seq for s in stored])
    last = stored[-1].seq if len(stored) == limit else None
    return StatementPage(
        items=[_statement(s, kinds[s.seq]) for s in stored],
        next_cursor=None if last is None else encode_cursor([last]),
    )


@router.get(
    "/v1/anchors/{seq}",
    response_model=StatementDetail,
    responses={
        **responses(404, 422),
        **models.links(
            GetHead=(
                "get_block",
                {"shard": "$response.body#/heads/0/shard", "height": "$response.body#/heads/0/height"},
            )
        ),
    },
)
async def get_anchor(request: Request, seq: Seq) -> StatementDetail:
    """One signed statement and every receipt stored for it (``{"type": <kind>, ...}``)."""
    async with connection(request) as conn:
        stored = await anchors.statement(conn, seq)
        if stored is None:
            latest = await anchors.latest_statement(conn)
            newest = "none is stored yet" if latest is None else f"the newest is {latest.seq}"
            raise ProblemError(
                404,
                "anchor-not-found",
                f"there is no statement {seq} ({newest}): statements are numbered from 1, newest first "
                "at /v1/anchors",
            )
        receipts = await anchors.receipts(conn, seq)
    return StatementDetail(
        **_statement(stored, sorted(receipts)).model_dump(),
        receipts=[{"type": kind, **fields} for kind, fields in receipts.items()],
    )
