"""Lineage endpoints under ``/v1`` (Marquez's ``GET /api/v1/lineage`` is in :mod:`.marquez_routes`).

``GET /v1/lineage?node=artifact:7&direction=upstream&depth=5`` answers where an artifact came
from; ``direction=downstream`` what it fed. Bounds (also in the OpenAPI document): ``depth``
counts edges from the root, default 5, at most 20; ``max_nodes`` default 500, at most 5000.
A walk cut by ``max_nodes`` answers 200 with the nearest nodes and ``truncated: true`` and says
why in ``truncation``. ``as_of`` shows lineage as the ledger knew it at that time. Every list
is keyset-paginated with an opaque ``cursor``.

Every endpoint needs the ``read`` scope (or public reads), as the other read routers do. The
router reads through :func:`provledger.api.conn.connection`, bounded in time like every read; the
application installs the problem-details handlers of :mod:`provledger.api.problems`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from asyncpg.pool import PoolConnectionProxy
from fastapi import APIRouter, Depends, Path, Query, Request

from provledger.api.auth import read_access
from provledger.api.conn import connection
from provledger.api.lineage_models import (
    ArtifactOut,
    ArtifactPage,
    LineageGraphOut,
    RecordedBy,
    RunArtifactOut,
    RunLineageOut,
    RunPage,
    RunSummary,
)
from provledger.api.models import links
from provledger.api.pagination import (
    BIGINT_KEY,
    DEFAULT_LIMIT,
    MICROS_KEY,
    SIDE_KEY,
    TEXT_KEY,
    Cursor,
    KeyPart,
    Limit,
    decode_cursor,
    encode_cursor,
)
from provledger.api.params import INT8_MAX, NO_NUL, UtcMoment
from provledger.api.problems import ProblemError, responses
from provledger.errors import InvalidRequest
from provledger.store import lineage as store
from provledger.store.walk import walk_lineage

RUN_ID_PATTERN: Final = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

router = APIRouter(tags=["lineage"], dependencies=[Depends(read_access)], responses=responses(401, 403))

AsOf = Annotated[
    UtcMoment,
    Query(description="RFC 3339 time with offset: see lineage as the ledger knew it then. Omit: now."),
]


def _exact(what: str) -> Any:
    return Query(max_length=1024, pattern=NO_NUL, description=f"Exact {what}.")


def after_key(cursor: str | None, parts: tuple[KeyPart, ...]) -> Any:
    """The keyset a cursor continues after, as the store takes it (``None`` for the first page)."""
    return decode_cursor(cursor, parts) if cursor else None


def next_cursor(page: store.Page[Any, Any]) -> str | None:
    return encode_cursor(list(page.next_key)) if page.next_key is not None else None


@router.get(
    "/v1/artifacts",
    responses={
        **responses(400, 422, 503),
        **links(
            GetArtifact=("get_artifact", {"artifact_id": "$response.body#/items/0/artifact_id"}),
            Lineage=("lineage", {"node": "$response.body#/items/0/node"}),
            NextPage=("list_artifacts", {"cursor": "$response.body#/next_cursor"}),
        ),
    },
)
async def list_artifacts(
    request: Request,
    as_of: AsOf = None,
    namespace: Annotated[str | None, _exact("namespace")] = None,
    name: Annotated[str | None, _exact("name")] = None,
    digest: Annotated[
        str | None, Query(pattern="^sha256:[0-9a-f]{64}$", description="Content digest, sha256:<64 hex>.")
    ] = None,
    kind: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="dataset, model, checkpoint...")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ArtifactPage:
    """Artifacts by name, namespace, content digest or kind, in the order they were first sealed."""
    after = after_key(cursor, (BIGINT_KEY,))  # a bad cursor is a 400 before it costs a connection
    async with connection(request) as conn:
        page = await store.find_artifacts(
            conn,
            namespace=namespace,
            name=name,
            digest=digest,
            kind=kind,
            as_of=as_of,
            after=after,
            limit=limit,
        )
    return ArtifactPage(items=[ArtifactOut.of(a) for a in page.items], next_cursor=next_cursor(page))


@router.get("/v1/artifacts/{artifact_id}", responses=responses(404, 422, 503))
async def get_artifact(
    request: Request, artifact_id: Annotated[int, Path(ge=1, le=INT8_MAX)], as_of: AsOf = None
) -> ArtifactOut:
    """One artifact; 404 if none has this id (or none had it yet at ``as_of``)."""
    async with connection(request) as conn:
        artifact = await store.get_artifact(conn, artifact_id, as_of)
    if artifact is None:
        raise ProblemError(
            404, "not-found", _unknown(f"artifact {artifact_id}", as_of, "/v1/artifacts?name=")
        )
    return ArtifactOut.of(artifact)


@router.get(
    "/v1/runs",
    responses={
        **responses(400, 422, 503),
        **links(
            GetRun=("get_run", {"run_id": "$response.body#/items/0/run_id"}),
            RunLineage=("run_lineage", {"run_id": "$response.body#/items/0/run_id"}),
            Lineage=("lineage", {"node": "$response.body#/items/0/node"}),
            NextPage=("list_runs", {"cursor": "$response.body#/next_cursor"}),
        ),
    },
)
async def list_runs(
    request: Request,
    job_namespace: Annotated[str | None, _exact("job namespace")] = None,
    job_name: Annotated[str | None, _exact("job name")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RunPage:
    """Runs, optionally of one job, oldest first."""
    after = after_key(cursor, (MICROS_KEY, TEXT_KEY))  # a bad cursor is a 400 before it costs a connection
    async with connection(request) as conn:
        page = await store.list_runs(
            conn, job_namespace=job_namespace, job_name=job_name, after=after, limit=limit
        )
    return RunPage(items=[RunSummary.of(r) for r in page.items], next_cursor=next_cursor(page))


@router.get(
    "/v1/runs/{run_id}/lineage",
    responses={
        **responses(400, 404, 422, 503),
        **links(
            GetInput=("get_artifact", {"artifact_id": "$response.body#/inputs/0/artifact/artifact_id"}),
            GetOutput=("get_artifact", {"artifact_id": "$response.body#/outputs/0/artifact/artifact_id"}),
            NextPage=(
                "run_lineage",
                {"run_id": "$request.path.run_id", "cursor": "$response.body#/next_cursor"},
            ),
        ),
    },
)
async def run_lineage(
    request: Request,
    run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN, description="The run's UUID, lowercase hyphenated.")],
    as_of: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RunLineageOut:
    """A run's inputs and outputs, each artifact once with the event that first recorded it."""
    after = after_key(cursor, (SIDE_KEY, BIGINT_KEY))  # a bad cursor is a 400 whether or not the run exists
    async with connection(request) as conn:
        run = await store.get_run(conn, run_id, as_of)
        if run is None:
            raise ProblemError(404, "not-found", _unknown(f"run {run_id}", as_of, "/v1/runs?job_name="))
        page = await store.run_artifacts(conn, run_id, as_of=as_of, after=after, limit=limit)
    sides: dict[str, list[RunArtifactOut]] = {"used": [], "generated": []}
    for item in page.items:
        recorded = RecordedBy.of(item.recorded_at, item.event_id)
        sides[item.relation].append(RunArtifactOut(artifact=ArtifactOut.of(item.artifact), recorded=recorded))
    return RunLineageOut(
        run=RunSummary.of(run),
        inputs=sides["used"],
        outputs=sides["generated"],
        next_cursor=next_cursor(page),
    )


@router.get("/v1/lineage", responses=responses(400, 404, 422, 503))
async def lineage(
    request: Request,
    node: Annotated[
        str,
        Query(
            max_length=128,
            description="Root: artifact:<artifact_id> or run:<run_id>.",
            examples=["artifact:7"],
        ),
    ],
    direction: Annotated[
        store.Direction, Query(description="upstream: where it came from; downstream: what it fed.")
    ] = store.Direction.BOTH,
    depth: Annotated[
        int,
        Query(ge=0, le=store.MAX_DEPTH, description=f"Edges from the root (most {store.MAX_DEPTH})."),
    ] = store.DEFAULT_DEPTH,
    max_nodes: Annotated[
        int,
        Query(
            ge=1,
            le=store.MAX_MAX_NODES,
            description=f"Node cap (most {store.MAX_MAX_NODES}); beyond it the "
            "graph is truncated and flagged.",
        ),
    ] = store.DEFAULT_MAX_NODES,
    as_of: AsOf = None,
) -> LineageGraphOut:
    """The lineage graph around one artifact or run, bounded by depth and a node cap."""
    try:
        root = store.NodeRef.parse(node)
    except InvalidRequest as exc:
        raise ProblemError(400, "invalid-node", str(exc)) from exc
    async with connection(request) as conn:
        if not await _known(conn, root, as_of):
            raise ProblemError(404, "not-found", _unknown(str(root), as_of, "/v1/artifacts or /v1/runs"))
        graph = await walk_lineage(conn, [root], direction, depth=depth, max_nodes=max_nodes, as_of=as_of)
    return LineageGraphOut.of(graph)


async def _known(conn: PoolConnectionProxy[Any], root: store.NodeRef, as_of: Any) -> bool:
    if root.artifact_id is not None:
        return await store.get_artifact(conn, root.artifact_id, as_of) is not None
    return await store.get_run(conn, root.id, as_of) is not None


def _unknown(what: str, as_of: object, where: str) -> str:
    when = f" as of {as_of}" if as_of is not None else ""
    return f"the ledger holds no {what}{when}; look it up with {where}"
