"""The bounded lineage walk: one recursive CTE, then the details of the nodes it kept.

The CTE's rows are ``(up, depth, art, run)``: a node (an artifact id or a run id) visited
going up or down at some depth. ``UNION`` (not ``UNION ALL``) drops a row equal to any
earlier one, so a node reached along several paths, or through several events recording one
edge (a run's START and COMPLETE both naming its inputs), is expanded once per depth.
``LIMIT`` on the outer query stops the recursion itself: PostgreSQL evaluates a recursive CTE
lazily, one level of the working table after another, so rows arrive breadth first and the
walk never visits more than its budget. The edges are then read for the kept nodes alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from asyncpg import Record

from provledger.errors import InvalidRequest
from provledger.store.db import Conn
from provledger.store.lineage import (
    DEFAULT_DEPTH,
    DEFAULT_MAX_NODES,
    FOREVER,
    MAX_DEPTH,
    MAX_MAX_NODES,
    VISITS_PER_NODE,
    Artifact,
    Direction,
    Edge,
    GraphNode,
    LineageGraph,
    NodeRef,
    Relation,
    Run,
)

# Each branch of the LATERAL follows one relation one way; `w.up` gates it per row, so the
# planner turns it into a one-time filter and only matching branches touch an index. Run ids
# compare as bytes (COLLATE "C", migration 0005), and a recursive CTE's terms must agree on it.
_WALK = """
WITH RECURSIVE walk(up, depth, art, run) AS (
    SELECT d.up, 0, s.art, s.run COLLATE "C"
    FROM unnest($1::bool[]) AS d(up)
    CROSS JOIN (SELECT unnest($2::bigint[]) AS art, NULL::text AS run
                UNION ALL SELECT NULL::bigint, unnest($3::text[])) AS s
  UNION
    SELECT w.up, w.depth + 1, n.art, n.run
    FROM walk w
    CROSS JOIN LATERAL (
        SELECT e.source_artifact AS art, CASE WHEN e.relation = 'generated' THEN e.run_id END AS run
        FROM lineage_edges e
        WHERE w.up AND e.artifact_id = w.art AND e.relation IN ('generated', 'derived_from')
          AND e.recorded_at <= $4
      UNION ALL
        SELECT e.artifact_id, NULL FROM lineage_edges e
        WHERE w.up AND e.run_id = w.run AND e.relation = 'used' AND e.recorded_at <= $4
      UNION ALL
        SELECT NULL, e.run_id FROM lineage_edges e
        WHERE NOT w.up AND e.artifact_id = w.art AND e.relation = 'used' AND e.recorded_at <= $4
      UNION ALL
        SELECT e.artifact_id, NULL FROM lineage_edges e
        WHERE NOT w.up AND e.source_artifact = w.art AND e.relation = 'derived_from'
          AND e.recorded_at <= $4
      UNION ALL
        SELECT e.artifact_id, NULL FROM lineage_edges e
        WHERE NOT w.up AND e.run_id = w.run AND e.relation = 'generated' AND e.recorded_at <= $4
    ) AS n
    WHERE w.depth < $5
)
-- Visits in the order the walk made them (breadth first), cut at the budget; each node once at
-- its smallest depth; the first max_nodes of them with their details, and how much was cut.
, visits AS (SELECT row_number() OVER () AS seq, depth, art, run FROM (SELECT * FROM walk LIMIT $6) v)
, nodes AS (SELECT art, run, min(depth) AS depth, min(seq) AS seq FROM visits GROUP BY art, run)
, kept AS (SELECT * FROM nodes ORDER BY depth, seq LIMIT $7)
SELECT k.depth, k.art, k.run, (SELECT count(*) FROM visits) AS visits, (SELECT count(*) FROM nodes) AS found,
       a.namespace, a.name, a.digest, a.kind, a.version, a.first_seen AS artifact_first_seen,
       r.parent_run_id, r.job_namespace, r.job_name, r.first_seen AS run_first_seen
FROM kept k
-- LATERAL ... LIMIT 1: one primary-key probe per kept node; a plain join lets the planner,
-- which cannot see how few nodes were kept, hash the whole table instead.
LEFT JOIN LATERAL (SELECT * FROM artifacts a WHERE a.artifact_id = k.art LIMIT 1) a ON true
LEFT JOIN LATERAL (SELECT * FROM runs r WHERE r.run_id = k.run LIMIT 1) r ON true
WHERE a.artifact_id IS NOT NULL OR r.run_id IS NOT NULL
ORDER BY k.depth, k.seq
"""

# Every edge between kept nodes (the induced subgraph), each once with its first sealed record:
# read per kept run (a run has few edges; an artifact may have millions) and per kept source of
# a derived_from edge, so hubs among the kept artifacts cost nothing.
_EDGES = """
SELECT relation, run, art, src, min(recorded_at) AS recorded_at,
       (array_agg(event_id ORDER BY recorded_at, edge_id))[1] AS event_id
FROM (
    SELECT e.relation, e.run_id AS run, e.artifact_id AS art, NULL::bigint AS src, e.recorded_at,
           e.event_id, e.edge_id
    FROM unnest($2::text[]) AS k(run_id)
    JOIN lineage_edges e ON e.run_id = k.run_id
    WHERE e.relation IN ('used', 'generated') AND e.recorded_at <= $3 AND e.artifact_id = ANY($1::bigint[])
  UNION ALL
    SELECT e.relation, NULL, e.artifact_id, e.source_artifact, e.recorded_at, e.event_id, e.edge_id
    FROM unnest($1::bigint[]) AS k(source)
    JOIN lineage_edges e ON e.source_artifact = k.source
    WHERE e.relation = 'derived_from' AND e.recorded_at <= $3 AND e.artifact_id = ANY($1::bigint[])
) AS found
GROUP BY relation, run, art, src
ORDER BY min(recorded_at), relation, run, art, src
"""


def check_bounds(depth: int, max_nodes: int) -> None:
    """Refuse a walk beyond the documented maxima, saying what is allowed."""
    if not 0 <= depth <= MAX_DEPTH:
        raise InvalidRequest(f"depth {depth} is out of range: use 0 to {MAX_DEPTH} (default {DEFAULT_DEPTH})")
    if not 1 <= max_nodes <= MAX_MAX_NODES:
        raise InvalidRequest(
            f"max_nodes {max_nodes} is out of range: use 1 to {MAX_MAX_NODES} (default {DEFAULT_MAX_NODES})"
        )


async def walk_lineage(
    conn: Conn,
    roots: Sequence[NodeRef],
    direction: Direction,
    *,
    depth: int = DEFAULT_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
    as_of: datetime | None = None,
) -> LineageGraph:
    """The nodes within ``depth`` edges of ``roots`` in ``direction``, at most ``max_nodes`` of them.

    Roots count towards ``max_nodes`` and come first; callers check that they exist (a root
    with no edges is simply a graph of one node). Edges are every edge between kept nodes
    (the induced subgraph), each once with its first record, oldest first.
    """
    check_bounds(depth, max_nodes)
    roots = list(dict.fromkeys(roots))
    ups = {Direction.UPSTREAM: [True], Direction.DOWNSTREAM: [False], Direction.BOTH: [True, False]}
    budget = VISITS_PER_NODE * max_nodes
    bound = as_of or FOREVER
    rows = await conn.fetch(
        _WALK,
        ups[direction],
        [r.artifact_id for r in roots if r.artifact_id is not None],
        [r.run_id for r in roots if r.run_id is not None],
        bound,
        depth,
        budget + 1,
        max_nodes,
    )
    nodes = tuple(_graph_node(row) for row in rows)
    truncation = None
    if rows and rows[0]["visits"] > budget:
        truncation = f"the walk reached its budget of {budget} node visits ({VISITS_PER_NODE} per node)"
    elif rows and rows[0]["found"] > max_nodes:
        truncation = f"more than max_nodes {max_nodes} nodes lie within depth {depth}"
    edges = await _edges(conn, nodes, bound)
    return LineageGraph(
        roots=tuple(roots),
        direction=direction,
        depth=depth,
        max_nodes=max_nodes,
        as_of=as_of,
        nodes=nodes,
        edges=edges,
        truncated=truncation is not None,
        truncation=truncation,
    )


def _graph_node(row: Record) -> GraphNode:
    if row["art"] is not None:
        artifact = Artifact(row["art"], row["namespace"], row["name"], row["digest"], row["kind"],
                            row["version"], row["artifact_first_seen"])  # fmt: skip
        return GraphNode(artifact.ref, row["depth"], artifact=artifact)
    run = Run(row["run"], row["parent_run_id"], row["job_namespace"], row["job_name"], row["run_first_seen"])
    return GraphNode(run.ref, row["depth"], run=run)


async def _edges(conn: Conn, nodes: tuple[GraphNode, ...], bound: datetime) -> tuple[Edge, ...]:
    artifact_ids = [n.artifact.artifact_id for n in nodes if n.artifact is not None]
    run_ids = [n.run.run_id for n in nodes if n.run is not None]
    if not artifact_ids:
        return ()
    rows = await conn.fetch(_EDGES, artifact_ids, run_ids, bound)
    edges = []
    for row in rows:
        relation: Relation = row["relation"]
        artifact = NodeRef.artifact(row["art"])
        if relation == "derived_from":
            source, target = NodeRef.artifact(row["src"]), artifact
        elif relation == "used":
            source, target = artifact, NodeRef.run(row["run"])
        else:
            source, target = NodeRef.run(row["run"]), artifact
        edges.append(Edge(relation, source, target, row["recorded_at"], row["event_id"]))
    return tuple(edges)
