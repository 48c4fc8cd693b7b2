"""Lineage reads: artifacts, runs with their inputs and outputs, and bounded graph walks.

The graph (ARCHITECTURE.md section 4) has two kinds of node, artifacts and runs, and edges in
the direction data flows: ``artifact -used-> run`` (the run read it), ``run -generated->
artifact`` and ``source -derived_from-> artifact``. Upstream walks against that direction
(where did this model come from?), downstream along it (what did this dataset feed?)::

    graph = await walk_lineage(conn, [NodeRef.artifact(7)], Direction.UPSTREAM, depth=5)
    for node in graph.nodes: print(node.depth, node.ref)

Every read takes ``as_of``: only edges whose block was sealed at or before it count, so a graph
can be seen as the ledger knew it then (``None``: as known now). Lineage is append-only, so the
same ``as_of`` always gives the same answer.

Walks are bounded twice, never open-ended (unbounded recursion is Marquez's best-known
failure): by ``depth`` (edges away from a root, :data:`DEFAULT_DEPTH`, at most
:data:`MAX_DEPTH`) and by ``max_nodes`` (:data:`DEFAULT_MAX_NODES`, at most
:data:`MAX_MAX_NODES`). The recursive CTE stops after :data:`VISITS_PER_NODE` node visits
per allowed node; a walk cut by either bound returns the nodes nearest the roots,
breadth first, flagged ``truncated`` with the reason.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Generic, Literal, TypeVar

import asyncpg

from provledger.errors import InvalidRequest
from provledger.events.ids import canonical_uuid
from provledger.store.db import Conn

DEFAULT_DEPTH: Final = 5
MAX_DEPTH: Final = 20
DEFAULT_MAX_NODES: Final = 500
MAX_MAX_NODES: Final = 5000
#: The walk makes at most this many node visits per node it may return: a node reached at
#: several depths (paths of several lengths) is visited at each, so this bounds the work too.
VISITS_PER_NODE: Final = 8

T = TypeVar("T")
#: A list's sort key; a page continues strictly after the key of the previous page's last item.
K = TypeVar("K", tuple[int], tuple[int, int], tuple[int, str])

NodeKind = Literal["artifact", "run"]
Relation = Literal["used", "generated", "derived_from"]


class Direction(enum.StrEnum):
    """Which way a walk goes from its roots, relative to the flow of data."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"


@dataclass(frozen=True, slots=True, order=True)
class NodeRef:
    """A node of the graph: ``artifact:<artifact_id>`` or ``run:<run_id>`` (a UUID)."""

    kind: NodeKind
    id: str

    @classmethod
    def artifact(cls, artifact_id: int) -> NodeRef:
        return cls("artifact", str(artifact_id))

    @classmethod
    def run(cls, run_id: str) -> NodeRef:
        return cls("run", run_id)

    @classmethod
    def parse(cls, text: str) -> NodeRef:
        """Read ``artifact:<id>`` or ``run:<uuid>``; :class:`InvalidRequest` says which form to use."""
        kind, _, value = text.partition(":")
        if kind == "artifact" and value.isascii() and value.isdigit() and 0 < int(value) < 2**63:
            return cls.artifact(int(value))
        if kind == "run" and canonical_uuid(value) is not None:
            return cls.run(value)
        raise InvalidRequest(
            f"node {text[:120]!r} is not 'artifact:<artifact id>' (a positive integer) or "
            "'run:<run id>' (a lowercase hyphenated UUID)"
        )

    @property
    def artifact_id(self) -> int | None:
        return int(self.id) if self.kind == "artifact" else None

    @property
    def run_id(self) -> str | None:
        return self.id if self.kind == "run" else None

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Artifact:
    """A dataset, model, checkpoint... pinned by digest; ``first_seen`` is when it was first sealed."""

    artifact_id: int
    namespace: str
    name: str
    digest: str
    kind: str
    version: str | None
    first_seen: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Artifact:
        return cls(row["artifact_id"], row["namespace"], row["name"], row["digest"], row["kind"],
                   row["version"], row["first_seen"])  # fmt: skip

    @property
    def ref(self) -> NodeRef:
        return NodeRef.artifact(self.artifact_id)


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of a job; ``first_seen`` is the time of its first event."""

    run_id: str
    parent_run_id: str | None
    job_namespace: str
    job_name: str
    first_seen: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Run:
        return cls(row["run_id"], row["parent_run_id"], row["job_namespace"], row["job_name"],
                   row["first_seen"])  # fmt: skip

    @property
    def ref(self) -> NodeRef:
        return NodeRef.run(self.run_id)


@dataclass(frozen=True, slots=True)
class RunArtifact:
    """An input (``used``) or output (``generated``) of a run, and the first event that recorded it."""

    relation: Relation
    artifact: Artifact
    recorded_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Edge:
    """A lineage edge in the direction data flows, with the first sealed event that recorded it."""

    relation: Relation
    source: NodeRef
    target: NodeRef
    recorded_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node a walk reached, ``depth`` edges from the nearest root; exactly one of the details is set."""

    ref: NodeRef
    depth: int
    artifact: Artifact | None = None
    run: Run | None = None


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """What a walk found: nodes nearest the roots first, the edges between them, and whether it was cut."""

    roots: tuple[NodeRef, ...]
    direction: Direction
    depth: int
    max_nodes: int
    as_of: datetime | None
    nodes: tuple[GraphNode, ...]
    edges: tuple[Edge, ...]
    truncated: bool
    truncation: str | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T, K]):
    """One page of a keyset-paginated list: ``next_key`` continues it, ``None`` on the last page.

    Keyset, not offset: the next page is ``WHERE key > next_key ORDER BY key LIMIT n``, one
    index range scan however deep, and rows sealed meanwhile never shift a page.
    """

    items: tuple[T, ...]
    next_key: K | None


def _page(rows: list[T], limit: int, key_of: Callable[[T], K]) -> Page[T, K]:
    """A page from ``limit + 1`` fetched rows: the extra row only proves there is a next page."""
    if len(rows) <= limit:
        return Page(tuple(rows), None)
    return Page(tuple(rows[:limit]), key_of(rows[limit - 1]))


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: how a time travels inside a key."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


# --- lists -------------------------------------------------------------------------------------

_ARTIFACT_COLUMNS = "artifact_id, namespace, name, digest, kind, version, first_seen"
_RUN_COLUMNS = "run_id, parent_run_id, job_namespace, job_name, first_seen"
#: Stands for "no as_of": later than any sealed_at, and a value asyncpg can encode.
FOREVER: Final = datetime(9999, 12, 31, tzinfo=UTC)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


async def find_artifacts(
    conn: Conn,
    *,
    namespace: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    kind: str | None = None,
    as_of: datetime | None = None,
    after: tuple[int] | None = None,
    limit: int,
) -> Page[Artifact, tuple[int]]:
    """Artifacts matching every filter given, in ``artifact_id`` order (the order they were sealed)."""
    rows = await conn.fetch(
        f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts "
        "WHERE artifact_id > $1 AND ($2::text IS NULL OR namespace = $2) AND ($3::text IS NULL OR name = $3) "
        "AND ($4::text IS NULL OR digest = $4) AND ($5::text IS NULL OR kind = $5) "
        f"AND first_seen <= $6 ORDER BY artifact_id LIMIT $7",
        after[0] if after else 0, namespace, name, digest, kind, as_of or FOREVER, limit + 1,
    )  # fmt: skip
    return _page([Artifact.from_row(r) for r in rows], limit, lambda a: (a.artifact_id,))


async def get_artifact(conn: Conn, artifact_id: int, as_of: datetime | None = None) -> Artifact | None:
    """The artifact, if it was sealed at or before ``as_of``."""
    row = await conn.fetchrow(
        f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE artifact_id = $1 AND first_seen <= $2",
        artifact_id,
        as_of or FOREVER,
    )
    return Artifact.from_row(row) if row else None


async def list_runs(
    conn: Conn,
    *,
    job_namespace: str | None = None,
    job_name: str | None = None,
    after: tuple[int, str] | None = None,
    limit: int,
) -> Page[Run, tuple[int, str]]:
    """Runs, optionally of one job, oldest first: by ``first_seen``, then ``run_id`` (key in micros)."""
    start, last_run = (_EPOCH + timedelta(microseconds=after[0]), after[1]) if after else (None, None)
    rows = await conn.fetch(
        f"SELECT {_RUN_COLUMNS} FROM runs "
        "WHERE ($1::timestamptz IS NULL OR (first_seen, run_id) > ($1, $2::text)) "
        "AND ($3::text IS NULL OR job_namespace = $3) AND ($4::text IS NULL OR job_name = $4) "
        "ORDER BY first_seen, run_id LIMIT $5",
        start, last_run, job_namespace, job_name, limit + 1,
    )  # fmt: skip
    return _page([Run.from_row(r) for r in rows], limit, lambda r: (micros(r.first_seen), r.run_id))


async def get_run(conn: Conn, run_id: str, as_of: datetime | None = None) -> Run | None:
    """The run, if one of its events was sealed at or before ``as_of``."""
    row = await conn.fetchrow(
        f"SELECT {_RUN_COLUMNS} FROM runs r WHERE run_id = $1 AND ($2::timestamptz IS NULL OR EXISTS ("
        "SELECT 1 FROM events e JOIN blocks b ON b.shard = e.shard AND b.height = e.height "
        "WHERE e.run_id = r.run_id AND b.sealed_at <= $2))",
        run_id,
        as_of,
    )
    return Run.from_row(row) if row else None


async def run_artifacts(
    conn: Conn,
    run_id: str,
    *,
    as_of: datetime | None = None,
    after: tuple[int, int] | None = None,
    limit: int,
) -> Page[RunArtifact, tuple[int, int]]:
    """A run's inputs then its outputs, each artifact once with the first event that recorded it.

    The key is ``(0 for an input or 1 for an output, artifact_id)``.
    """
    rows = await conn.fetch(
        f"SELECT e.relation, (e.relation = 'generated')::int AS side, "
        f"{', '.join('a.' + c for c in _ARTIFACT_COLUMNS.split(', '))}, "
        "min(e.recorded_at) AS recorded_at, "
        "(array_agg(e.event_id ORDER BY e.recorded_at, e.edge_id))[1] AS event_id "
        "FROM lineage_edges e JOIN artifacts a ON a.artifact_id = e.artifact_id "
        "WHERE e.run_id = $1 AND e.relation IN ('used', 'generated') AND e.recorded_at <= $2 "
        "AND ((e.relation = 'generated')::int, e.artifact_id) > ($3, $4) "
        "GROUP BY e.relation, a.artifact_id ORDER BY side, a.artifact_id LIMIT $5",
        run_id, as_of or FOREVER, *(after or (-1, 0)), limit + 1,
    )  # fmt: skip
    items = [RunArtifact(r["relation"], Artifact.from_row(r), r["recorded_at"], r["event_id"]) for r in rows]
    return _page(items, limit, lambda i: (int(i.relation == "generated"), i.artifact.artifact_id))


# --- roots for Marquez-style node ids ------------------------------------------------------------


async def dataset_roots(
    conn: Conn, namespace: str, name: str, as_of: datetime | None, limit: int
) -> list[Artifact]:
    """Every version (digest) of the artifact ``namespace``/``name``, at most ``limit``."""
    rows = await conn.fetch(
        f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE namespace = $1 AND name = $2 "
        f"AND first_seen <= $3 ORDER BY artifact_id LIMIT $4",
        namespace, name, as_of or FOREVER, limit,
    )  # fmt: skip
    return [Artifact.from_row(r) for r in rows]


async def job_roots(conn: Conn, namespace: str, name: str, as_of: datetime | None, limit: int) -> list[Run]:
    """Runs of the job ``namespace``/``name`` known at ``as_of``, oldest first, at most ``limit``."""
    rows = await conn.fetch(
        f"SELECT {_RUN_COLUMNS} FROM runs r WHERE job_namespace = $1 AND job_name = $2 "
        "AND ($3::timestamptz IS NULL OR EXISTS (SELECT 1 FROM events e JOIN blocks b "
        "ON b.shard = e.shard AND b.height = e.height WHERE e.run_id = r.run_id AND b.sealed_at <= $3)) "
        "ORDER BY first_seen, run_id LIMIT $4",
        namespace, name, as_of, limit,
    )  # fmt: skip
    return [Run.from_row(r) for r in rows]
