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
from typing import cast

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
# planner turns it into a one-time filter and only matching branches touch an index.
_WALK = """
WITH RECURSIVE walk(up, depth, art, run) AS (
    SELECT d.up, 0, s.art, s.run
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
SELECT depth, art, run FROM walk LIMIT $6
"""

# Every edge between kept nodes (the induced subgraph), each once with its first sealed record:
# looked up from the kept runs (few edges each) and the kept sources of derived_from edges.
_EDGES = """
SELECT e.relation, CASE WHEN e.relation = 'derived_from' THEN NULL ELSE e.run_id END AS run,
       e.artifact_id AS art, e.source_artifact AS src, min(e.recorded_at) AS recorded_at,
       (array_agg(e.event_id ORDER BY e.recorded_at, e.edge_id))[1] AS event_id
FROM lineage_edges e
WHERE e.recorded_at <= $3 AND e.artifact_id = ANY($1::bigint[])
  AND ((e.relation IN ('used', 'generated') AND e.run_id = ANY($2::text[]))
       OR (e.relation = 'derived_from' AND e.source_artifact = ANY($1::bigint[])))
GROUP BY 1, 2, 3, 4
ORDER BY min(e.recorded_at), 1, 2, 3, 4
"""


def check_bounds(depth: int, max_nodes: int) -> None:
    """Refuse a walk beyond the documented maxima, saying what is allowed."""
    if not 0 <= depth <= MAX_DEPTH:
        raise InvalidRequest(f"depth {depth} is out of range: use 0 to {MAX_DEPTH} (default {DEFAULT_DEPTH})")
    if not 1 <= max_nodes <= MAX_MAX_NODES:
        raise InvalidRequest(
            f"max_nodes {max_nodes} is out of range: use 1 to {MAX_MAX_NODES} (default {DEFAULT_MAX_NODES})"
        )


def _node(art: int | None, run: str | None) -> NodeRef:
    return NodeRef.artifact(art) if art is not None else NodeRef.run(cast(str, run))


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
    )
    truncation = None
    if len(rows) > budget:
        truncation = (
            f"the walk reached its budget of {budget} node visits ({VISITS_PER_NODE} per node allowed)"
        )
        rows = rows[:budget]
    depths: dict[NodeRef, int] = {root: 0 for root in roots[:max_nodes]}
    if len(roots) > max_nodes:
        truncation = f"{len(roots)} roots exceed max_nodes {max_nodes}"
    for row in rows:
        ref = _node(row["art"], row["run"])
        if ref not in depths:
            if len(depths) >= max_nodes:
                truncation = truncation or f"more than max_nodes {max_nodes} nodes lie within depth {depth}"
                break
            depths[ref] = row["depth"]
    nodes = await _details(conn, depths)
    edges = await _edges(conn, depths, bound)
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


async def _details(conn: Conn, depths: dict[NodeRef, int]) -> tuple[GraphNode, ...]:
    artifact_ids = [ref.artifact_id for ref in depths if ref.artifact_id is not None]
    run_ids = [ref.run_id for ref in depths if ref.run_id is not None]
    artifacts: dict[NodeRef, Artifact] = {}
    runs: dict[NodeRef, Run] = {}
    if artifact_ids:
        rows = await conn.fetch(
            "SELECT artifact_id, namespace, name, digest, kind, version, first_seen FROM artifacts "
            "WHERE artifact_id = ANY($1::bigint[])",
            artifact_ids,
        )
        artifacts = {a.ref: a for a in map(Artifact.from_row, rows)}
    if run_ids:
        rows = await conn.fetch(
            "SELECT run_id, parent_run_id, job_namespace, job_name, first_seen FROM runs "
            "WHERE run_id = ANY($1::text[])",
            run_ids,
        )
        runs = {r.ref: r for r in map(Run.from_row, rows)}
    return tuple(
        GraphNode(ref, depth, artifacts.get(ref), runs.get(ref))
        for ref, depth in depths.items()
        if ref in artifacts or ref in runs
    )


async def _edges(conn: Conn, depths: dict[NodeRef, int], bound: datetime) -> tuple[Edge, ...]:
    artifact_ids = [ref.artifact_id for ref in depths if ref.artifact_id is not None]
    run_ids = [ref.run_id for ref in depths if ref.run_id is not None]
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
