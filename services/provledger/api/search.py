"""``GET /v1/search?q=&limit=``: artifacts by name or digest, runs by id, jobs by name, for the page.

``q`` is matched as prefixes and substrings (see :mod:`provledger.store.search` for how each is
served and bounded); ``truncated`` says more may match than came back. Needs the ``read`` scope
(or public reads); errors are RFC 9457 problems like the rest of ``/v1``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from provledger.api.auth import read_access
from provledger.api.conn import connection
from provledger.api.params import NO_NUL
from provledger.api.problems import responses
from provledger.store import search as store

#: Results at most per search, and by default.
MAX_RESULTS = 100
DEFAULT_RESULTS = 20

router = APIRouter(tags=["lineage"], dependencies=[Depends(read_access)], responses=responses(401, 403))

#: The text a search matches: what the page and Marquez's ``/search`` accept alike.
SearchText = Annotated[
    str,
    Query(
        min_length=1,
        max_length=store.MAX_QUERY_CHARS,
        pattern=NO_NUL,
        description="Prefix or part of an artifact or job name, a digest prefix (hex, sha256: optional) "
        "or a run id prefix.",
        examples=["ctr-ranker"],
    ),
]


class SearchResult(BaseModel):
    """One match. ``id`` names it: an artifact's id (its node is ``artifact:<id>``), a run's id
    (``run:<id>``), or a job's name (a job is its namespace and name)."""

    type: Literal["artifact", "run", "job"]
    id: str
    namespace: str = Field(description="The artifact's namespace, or the job's (of a run too).")
    name: str = Field(description="The artifact's name, or the job's (of a run too).")
    kind: str | None = Field(description="An artifact's kind (dataset, model, ...); null for runs and jobs.")
    digest: str | None = Field(
        description="An artifact's sha256:<hex> digest (its newest by that name); else null."
    )

    @classmethod
    def of(cls, hit: store.Hit) -> SearchResult:
        return cls(type=hit.type, id=hit.id, namespace=hit.namespace, name=hit.name, kind=hit.kind,
                   digest=hit.digest)  # fmt: skip


class SearchResults(BaseModel):
    """Matches in this order: runs by id prefix, artifacts by digest prefix, by name prefix, by name
    part, then jobs by name part."""

    results: list[SearchResult]
    truncated: bool = Field(
        description="More may match than came back: the limit was reached, or a bounded substring scan "
        "did not read the whole ledger (older artifacts are then found by name prefix)."
    )


@router.get("/v1/search", responses=responses(422, 503))
async def search(
    request: Request,
    q: SearchText,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RESULTS, description=f"Most results (at most {MAX_RESULTS}).")
    ] = (DEFAULT_RESULTS),
) -> SearchResults:
    """Find artifacts, runs and jobs by a part of their name or id."""
    async with connection(request) as conn:
        found = await store.search(conn, q, limit, frozenset({"artifact", "run", "job"}))
    return SearchResults(results=[SearchResult.of(h) for h in found.hits], truncated=found.truncated)
