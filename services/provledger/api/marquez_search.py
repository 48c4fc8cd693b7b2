"""Marquez's search, event log, tags and statistics reads, from the ledger.

* ``GET /api/v1/search?q&filter&sort&limit&namespace&before&after``: datasets and jobs whose
  name matches ``q`` (the store query of ``/v1/search``, :mod:`provledger.store.search`), each
  dataset once per namespace and name; Marquez's ``%`` wildcards at the ends are dropped, since
  matching is by prefix and part already.
* ``GET /api/v2beta/search/{jobs,datasets}?q``: the same matches as OpenSearch hits, which
  Marquez's UI shows when its search is backed by OpenSearch.
* ``GET /api/v1/events/lineage?limit&before&after&offset&sortDirection``: the sealed events as
  OpenLineage RunEvents (a RunEvent ingested as it came, a native event mapped by
  :func:`provledger.events.openlineage.to_openlineage`), newest first by default, in the time
  order of their UUIDv7 ids (see :func:`provledger.store.marquez.sealed_events`). A page holds at
  most :data:`MAX_EVENT_PAGE_BYTES` of events (at least one): a page cut shorter says so in the
  ``Provledger-Truncated`` header.
* ``GET /api/v1/tags``: always empty (provledger records no tags).
* ``GET /api/v1/stats/{lineage-events,jobs,datasets,sources}?period=DAY|WEEK&timezone``: an empty
  list: no index serves counts per hour or day on a large ledger, and Marquez's UI draws an empty
  chart for one. ``period`` and ``timezone`` are still checked.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Final, Literal
from zoneinfo import available_timezones

from fastapi import Query, Request, Response

from provledger.api.conn import connection
from provledger.api.marquez import TRUNCATED_HEADER
from provledger.api.marquez_errors import MarquezError4xx, marquez_router
from provledger.api.marquez_models import (
    IntervalMetric,
    LineageEventList,
    LineageMetric,
    MarquezTagList,
    OpenSearchResult,
    SearchResultList,
    SearchResultOut,
    run_event,
)
from provledger.api.marquez_params import END_OF_TIME, EPOCH, MAX_LIMIT, Limit, Offset, TimeText, moment
from provledger.api.params import NO_NUL
from provledger.store import marquez as marquez_store
from provledger.store import search as store

#: Bytes of canonical events one page of ``/api/v1/events/lineage`` carries at most.
MAX_EVENT_PAGE_BYTES: Final = 16 * 1024 * 1024

router = marquez_router()

#: The read paths of this router, whose writes are refused (405).
READ_PATHS = (
    "/api/v1/search",
    "/api/v2beta/search/jobs",
    "/api/v2beta/search/datasets",
    "/api/v1/events/lineage",
    "/api/v1/tags",
    "/api/v1/stats/{what}",
)

Query_ = Annotated[
    str,
    Query(
        alias="q",
        min_length=1,
        max_length=store.MAX_QUERY_CHARS,
        pattern=NO_NUL,
        description="Prefix or part of a dataset or job name.",
    ),
]


def _text(q: str) -> str:
    text = q.strip().strip("%")
    if not text:
        raise MarquezError4xx(400, "q must hold more than spaces and % wildcards: send part of a name")
    return text


async def _hits(request: Request, q: str, types: frozenset[store.HitType], limit: int) -> store.Found:
    async with connection(request) as conn:
        return await store.search(conn, _text(q), limit, types)


def _node(kind: str, namespace: str, name: str) -> str:
    return f"{'dataset' if kind == 'artifact' else 'job'}:{namespace}:{name}"


@router.get("/api/v1/search")
async def marquez_search(
    request: Request,
    q: Query_,
    filter: Annotated[str | None, Query(max_length=16, description="DATASET or JOB.")] = None,
    sort: Annotated[str, Query(max_length=16, description="NAME or UPDATE_AT (newest first).")] = "NAME",
    limit: Limit = 10,
    namespace: Annotated[str | None, Query(max_length=1024, pattern=NO_NUL)] = None,
    before: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")] = None,
    after: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")] = None,
) -> SearchResultList:
    """Datasets and jobs whose name matches ``q`` (Marquez ``SearchResultList``)."""
    wanted = (filter or "ALL").upper()
    if wanted not in ("ALL", "DATASET", "JOB"):
        raise MarquezError4xx(
            400, f"filter {filter[:16]!r} is not DATASET or JOB" if filter else "bad filter"
        )
    order = sort.upper()
    if order not in ("NAME", "UPDATE_AT", "UPDATED_AT"):
        raise MarquezError4xx(400, f"sort {sort[:16]!r} is not NAME or UPDATE_AT")
    types: dict[str, frozenset[store.HitType]] = {
        "ALL": frozenset({"artifact", "job"}),
        "DATASET": frozenset({"artifact"}),
        "JOB": frozenset({"job"}),
    }
    found = await _hits(request, q, types[wanted], MAX_LIMIT)
    results: dict[str, SearchResultOut] = {}
    for hit in found.hits:
        node = _node(hit.type, hit.namespace, hit.name)
        day = hit.updated_at.date().isoformat()
        if namespace is not None and hit.namespace != namespace:
            continue
        if (before is not None and day >= before) or (after is not None and day < after):
            continue
        if node not in results:
            kind: Literal["DATASET", "JOB"] = "DATASET" if hit.type == "artifact" else "JOB"
            results[node] = SearchResultOut(type=kind, name=hit.name, updatedAt=hit.updated_at,
                                            namespace=hit.namespace, nodeId=node)  # fmt: skip
    ordered = list(results.values())
    if order == "NAME":
        ordered.sort(key=lambda r: (r.name, r.namespace))
    else:
        ordered.sort(key=lambda r: r.updatedAt, reverse=True)
    return SearchResultList(totalCount=min(len(ordered), limit), results=ordered[:limit])


async def _open_search(request: Request, q: str, kind: store.HitType) -> OpenSearchResult:
    found = await _hits(request, q, frozenset({kind}), MAX_LIMIT)
    hits: list[dict[str, object]] = [
        {"run_id": f"{hit.type}:{hit.id}", "name": hit.name, "namespace": hit.namespace, "eventType": None,
         "type": "BATCH" if kind == "job" else "DB_TABLE", "facets": {}, "runFacets": {}}
        for hit in found.hits
    ]  # fmt: skip
    return OpenSearchResult(hits=hits, highlights=[{} for _ in hits])


@router.get("/api/v2beta/search/jobs")
async def marquez_search_jobs(request: Request, q: Query_) -> OpenSearchResult:
    """Jobs matching ``q``, as Marquez's OpenSearch-backed search answers."""
    return await _open_search(request, q, "job")


@router.get("/api/v2beta/search/datasets")
async def marquez_search_datasets(request: Request, q: Query_) -> OpenSearchResult:
    """Datasets (artifacts) matching ``q``, as Marquez's OpenSearch-backed search answers."""
    return await _open_search(request, q, "artifact")


@router.get(
    "/api/v1/events/lineage", responses={200: {"headers": {TRUNCATED_HEADER: {"schema": {"type": "string"}}}}}
)
async def marquez_lineage_events(
    request: Request,
    response: Response,
    limit: Limit = 100,
    offset: Offset = 0,
    before: TimeText = "",
    after: TimeText = "",
    sort_direction: Annotated[
        str, Query(alias="sortDirection", max_length=8, description="desc or asc.")
    ] = "desc",
) -> LineageEventList:
    """Sealed events with ids timed in ``[after, before)`` as RunEvents (Marquez ``LineageEventList``)."""
    direction = sort_direction.lower()
    if direction not in ("asc", "desc"):
        raise MarquezError4xx(400, f"sortDirection {sort_direction!r} is not asc or desc")
    start, end = moment(after, "after", EPOCH), moment(before, "before", END_OF_TIME)
    async with connection(request) as conn:
        page, short = await marquez_store.sealed_events(
            conn, start, end, newest_first=direction == "desc", offset=offset, limit=limit,
            max_bytes=MAX_EVENT_PAGE_BYTES,
        )  # fmt: skip
    if short:
        response.headers[TRUNCATED_HEADER] = (
            f"the page stops at {len(page.items)} events, {MAX_EVENT_PAGE_BYTES} bytes; continue at "
            f"offset={offset + len(page.items)}"
        )
    return LineageEventList(events=[run_event(c) for c in page.items],
                            totalCount=page.total)  # fmt: skip


@router.get("/api/v1/tags")
async def marquez_tags(limit: Limit = 100, offset: Offset = 0) -> MarquezTagList:
    """No tags: provledger records none (Marquez ``TagList``)."""
    return MarquezTagList(tags=[])


@router.get("/api/v1/stats/{what}")
async def marquez_stats(
    what: Literal["lineage-events", "jobs", "datasets", "sources"],
    period: Annotated[str, Query(max_length=8, description="DAY or WEEK.")] = "DAY",
    timezone: Annotated[str, Query(max_length=64, pattern=NO_NUL, description="IANA time zone.")] = "UTC",
) -> list[LineageMetric] | list[IntervalMetric]:
    """Counts per hour (``DAY``) or day (``WEEK``): an empty list, see the module docstring."""
    if period.upper() not in ("DAY", "WEEK"):
        raise MarquezError4xx(400, f"period {period!r} is not DAY or WEEK")
    if timezone and timezone not in _time_zones():
        raise MarquezError4xx(400, f"timezone {timezone!r} is not an IANA time zone, e.g. Europe/Paris")
    return []


@cache
def _time_zones() -> frozenset[str]:
    """Every IANA zone name: checked by membership, never by opening a file a client names."""
    return frozenset(available_timezones()) | {"UTC"}
