"""Marquez's read API under ``/api/v1``: namespaces, datasets, jobs, runs, lineage, so its UI browses us.

``GET /api/v1/namespaces`` lists namespaces; ``/api/v1/namespaces/{ns}[/datasets[/{name}[/versions]]]``
and ``[/jobs[/{name}[/runs]]]`` answer in Marquez's shapes (:mod:`.marquez_models`), every name
percent-encoded on its own (:func:`.marquez_params.segments`); ``/api/v1/jobs`` lists every
job; ``/api/v1/jobs/runs/{id}/facets?type=run|job`` merges a run's facets from its sealed
events; ``/api/v1/lineage?nodeId=&depth=`` is the lineage graph (:mod:`.marquez`), any ``depth``
clamped to :data:`provledger.api.marquez.MAX_DEPTH`; ``/api/v1/column-lineage`` answers an empty
graph (provledger records no columns). Lists page by ``limit`` (at most 100) and ``offset`` (at
most 10,000); ``totalCount`` counts to 10,000. Same auth as every read (``read_access``); errors in
Marquez's shape (:class:`.marquez_errors.MarquezRoute`); writes on these paths 405.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import Path, Query, Request, Response

from provledger.api import marquez
from provledger.api.conn import connection
from provledger.api.marquez_errors import MarquezError4xx, marquez_router
from provledger.api.marquez_models import (
    MarquezDataset,
    MarquezDatasetList,
    MarquezDatasetVersion,
    MarquezDatasetVersionList,
    MarquezJob,
    MarquezJobList,
    MarquezNamespace,
    MarquezNamespaceList,
    MarquezRun,
    MarquezRunList,
    RunFacets,
    RunStateName,
    last_event_types,
    merged_facets,
    run_event,
)
from provledger.api.marquez_params import MAX_NAME_CHARS, Limit, Offset, segments
from provledger.api.params import NO_NUL
from provledger.errors import InvalidRequest
from provledger.store import lineage as lineage_store
from provledger.store import marquez as store
from provledger.store.db import Conn
from provledger.store.walk import walk_lineage

T = TypeVar("T")

RUN_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: Response header of the lineage endpoint when its graph was cut (Marquez's shape has no field for it).
TRUNCATED_HEADER = marquez.TRUNCATED_HEADER
_NAMESPACES = "/api/v1/namespaces/"
LastRunStates = Annotated[
    list[RunStateName] | None,
    Query(
        alias="lastRunStates",
        max_length=5,
        description="Only jobs whose latest run is in one of these states (among the first "
        f"{store.STATE_SCAN} jobs).",
    ),
]

router = marquez_router()

#: The read paths of this router and of :mod:`.marquez_search`, whose writes are refused (405).
READ_PATHS = (
    "/api/v1/namespaces",
    "/api/v1/namespaces/{rest:marquez_path}",
    "/api/v1/jobs",
    "/api/v1/jobs/runs/{run_id}/facets",
    "/api/v1/lineage",
    "/api/v1/column-lineage",
)


@router.get("/api/v1/namespaces")
async def marquez_namespaces(
    request: Request, limit: Limit = 100, offset: Offset = 0
) -> MarquezNamespaceList:
    """Every job and artifact namespace (Marquez ``NamespaceList``)."""
    async with connection(request) as conn:
        found = await store.namespaces(conn)
    return MarquezNamespaceList(namespaces=[MarquezNamespace.of(n) for n in found[offset : offset + limit]])


@router.get(
    "/api/v1/namespaces/{rest:marquez_path}",
    responses={
        200: {
            "model": MarquezNamespace
            | MarquezDatasetList
            | MarquezDataset
            | MarquezDatasetVersionList
            | MarquezJobList
            | MarquezJob
            | MarquezRunList
        }
    },
)
async def marquez_namespace_tree(
    request: Request,
    rest: Annotated[
        str,
        Path(
            description="{ns}[/datasets[/{name}[/versions]]] or "
            "{ns}[/jobs[/{name}[/runs]]], each name percent-encoded"
        ),
    ],
    limit: Limit = 100,
    offset: Offset = 0,
    last_run_states: LastRunStates = None,
) -> Any:
    """A namespace, its datasets or jobs, one of them, or its versions or runs (Marquez's shapes)."""
    parts = segments(request, _NAMESPACES)
    ns, what = parts[0], tuple(parts[1:])
    async with connection(request) as conn:
        if what == ():
            found = await store.namespace(conn, ns)
            return MarquezNamespace.of(_known(found, f"namespace {ns!r}", "/api/v1/namespaces"))
        if what == ("datasets",):
            datasets = await store.list_datasets(conn, ns, offset, limit)
            return MarquezDatasetList(datasets=[MarquezDataset.of(d) for d in datasets.items],
                               totalCount=datasets.total)  # fmt: skip
        if what == ("jobs",):
            return await _jobs(conn, ns, offset, limit, last_run_states)
        if (
            len(what) in (2, 3)
            and what[0] in ("datasets", "jobs")
            and what[2:] in ((), ("versions",), ("runs",))
        ):
            return await _named(conn, ns, what[0], what[1], what[2:], offset, limit)
    raise MarquezError4xx(404, f"no Marquez endpoint at {request.url.path}: see /openapi.json (tag marquez)")


async def _named(
    conn: Conn, ns: str, kind: str, name: str, sub: tuple[str, ...], offset: int, limit: int
) -> Any:
    where = f"/api/v1/namespaces/{{ns}}/{kind}"
    if kind == "datasets" and sub in ((), ("versions",)):
        dataset = _known(await store.dataset(conn, ns, name), f"dataset {ns!r} {name!r}", where)
        if not sub:
            return MarquezDataset.of(dataset)
        versions = await store.dataset_versions(conn, ns, name, offset, limit)
        return MarquezDatasetVersionList(versions=[MarquezDatasetVersion.of(v) for v in versions.items],
                                  totalCount=versions.total)  # fmt: skip
    if kind == "jobs" and sub in ((), ("runs",)):
        job = _known(await store.job(conn, ns, name), f"job {ns!r} {name!r}", where)
        if not sub:
            return MarquezJob.of(job)
        runs = await store.job_runs(conn, ns, name, offset, limit)
        return MarquezRunList(runs=[MarquezRun.of(r) for r in runs.items], totalCount=runs.total)
    raise MarquezError4xx(404, f"no Marquez endpoint for {kind}/{name}/{'/'.join(sub)}")


async def _jobs(
    conn: Conn, ns: str | None, offset: int, limit: int, states: list[RunStateName] | None
) -> MarquezJobList:
    types = None if states is None else last_event_types(states)
    jobs = await store.list_jobs(conn, ns, offset, limit, types)
    return MarquezJobList(jobs=[MarquezJob.of(j) for j in jobs.items], totalCount=jobs.total)


@router.get("/api/v1/jobs")
async def marquez_jobs(
    request: Request, limit: Limit = 100, offset: Offset = 0, last_run_states: LastRunStates = None
) -> MarquezJobList:
    """Every job, by namespace and name (Marquez ``JobList``), or those whose latest run is in a state."""
    async with connection(request) as conn:
        return await _jobs(conn, None, offset, limit, last_run_states)


@router.get("/api/v1/jobs/runs/{run_id}/facets")
async def marquez_run_facets(
    request: Request,
    run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN, description="The run's UUID, lowercase hyphenated.")],
    type: Annotated[Literal["run", "job"], Query(description="Facets of the run, or of its job.")] = "run",
) -> RunFacets:
    """The run's (or its job's) facets, merged over its first 100 sealed events in time order."""
    async with connection(request) as conn:
        if await store.run_state(conn, run_id) is None:
            raise MarquezError4xx(404, f"the ledger holds no run {run_id}; list a job's runs first")
        canonical = await store.run_canonical_events(conn, run_id)
    events = [run_event(c) for c in canonical]
    return RunFacets(runId=run_id, facets=merged_facets(events, type))


@router.get(
    "/api/v1/lineage", responses={200: {"headers": {TRUNCATED_HEADER: {"schema": {"type": "string"}}}}}
)
async def marquez_lineage(
    request: Request,
    response: Response,
    node_id: Annotated[
        str,
        Query(
            alias="nodeId",
            max_length=2 * MAX_NAME_CHARS + 16,
            pattern=NO_NUL,
            description="dataset:<namespace>:<name>, job:<namespace>:<name> or run:<uuid>.",
            examples=["dataset:s3://lake:features"],
        ),
    ],
    depth: Annotated[
        int,
        Query(
            ge=0,
            description=f"Jobs away from the node, as in Marquez; beyond {marquez.MAX_DEPTH} it is "
            f"clamped to {marquez.MAX_DEPTH}.",
        ),
    ] = marquez.DEFAULT_DEPTH,
) -> marquez.MarquezLineage:
    """Marquez's lineage read: the graph in Marquez's node ids and shape.

    A graph cut at the node cap is flagged by the ``Provledger-Truncated`` response header.
    """
    try:
        node = marquez.parse_node_id(node_id)
        run = lineage_store.NodeRef.parse(f"run:{node.name}") if node.type == "run" else None
    except InvalidRequest as exc:
        raise MarquezError4xx(400, str(exc)) from exc
    limit = lineage_store.DEFAULT_MAX_NODES + 1
    async with connection(request) as conn:
        if node.type == "dataset":
            dataset = await lineage_store.dataset_roots(conn, node.namespace, node.name, None, limit)
            roots = [a.ref for a in dataset]
        elif node.type == "job":
            roots = [
                r.ref for r in await lineage_store.job_roots(conn, node.namespace, node.name, None, limit)
            ]
        else:
            roots = [run] if run is not None and await lineage_store.get_run(conn, run.id) else []
        if not roots:
            raise MarquezError4xx(
                404, f"the ledger holds no {node_id[:200]}; search for it with /api/v1/search?q="
            )
        depth = marquez.edge_depth(node, min(depth, marquez.MAX_DEPTH))
        graph = await walk_lineage(conn, roots, lineage_store.Direction.BOTH, depth=depth)
    if graph.truncation is not None:
        response.headers[TRUNCATED_HEADER] = graph.truncation
    return marquez.to_marquez(graph)


@router.get("/api/v1/column-lineage")
async def marquez_column_lineage(
    node_id: Annotated[str, Query(alias="nodeId", max_length=2 * MAX_NAME_CHARS + 16, pattern=NO_NUL)],
    depth: Annotated[int, Query(ge=0)] = marquez.DEFAULT_DEPTH,
    with_downstream: Annotated[bool, Query(alias="withDownstream")] = False,
) -> marquez.MarquezLineage:
    """Column lineage is not recorded by provledger: always an empty graph (Marquez's UI shows none)."""
    return marquez.MarquezLineage(graph=[])


def _known(found: T | None, what: str, where: str) -> T:
    if found is None:
        raise MarquezError4xx(404, f"the ledger holds no {what}; list them with {where}")
    return found
