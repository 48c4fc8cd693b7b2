"""Lineage queries against a real database holding a known, sealed graph: every answer exact."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import pytest
from tests.helpers.lineage_graph import (
    CKPT_1,
    CKPT_2,
    DEPLOY,
    ENDPOINT,
    FEATURE_RUN,
    FEATURES,
    MODEL_1,
    MODEL_2,
    RAW,
    T1,
    TRAIN_1,
    TRAIN_2,
    DemoGraph,
    artifact,
    event,
    seal,
    seal_demo_graph,
)

from provledger.errors import InvalidRequest
from provledger.events.rows import ArtifactKey
from provledger.store.blocks import ensure_shard
from provledger.store.lineage import (
    Direction,
    LineageGraph,
    NodeRef,
    dataset_roots,
    find_artifacts,
    get_artifact,
    get_run,
    job_roots,
    list_runs,
    run_artifacts,
)
from provledger.store.walk import walk_lineage

Node = ArtifactKey | str


@pytest.fixture
async def demo(conn: asyncpg.Connection) -> DemoGraph:
    return await seal_demo_graph(conn)


def ref(demo: DemoGraph, node: Node) -> NodeRef:
    return NodeRef.run(node) if isinstance(node, str) else NodeRef.artifact(demo[node])


def depths(demo: DemoGraph, graph: LineageGraph) -> dict[NodeRef, int]:
    return {n.ref: n.depth for n in graph.nodes}


def expect_nodes(demo: DemoGraph, nodes: dict[Node, int]) -> dict[NodeRef, int]:
    return {ref(demo, node): depth for node, depth in nodes.items()}


def links(demo: DemoGraph, graph: LineageGraph) -> set[tuple[str, NodeRef, NodeRef]]:
    return {(e.relation, e.source, e.target) for e in graph.edges}


def expect_links(demo: DemoGraph, edges: list[tuple[str, Node, Node]]) -> set[tuple[str, NodeRef, NodeRef]]:
    return {(relation, ref(demo, s), ref(demo, t)) for relation, s, t in edges}


UPSTREAM_OF_ENDPOINT: list[tuple[str, Node, Node]] = [
    ("generated", DEPLOY, ENDPOINT),
    ("used", MODEL_2, DEPLOY),
    ("generated", TRAIN_2, MODEL_2),
    ("derived_from", CKPT_2, MODEL_2),
    ("generated", TRAIN_2, CKPT_2),
    ("used", FEATURES, TRAIN_2),
    ("used", CKPT_1, TRAIN_2),
]
FARTHER_UPSTREAM: list[tuple[str, Node, Node]] = [
    ("generated", FEATURE_RUN, FEATURES),
    ("generated", TRAIN_1, CKPT_1),
    ("used", RAW, FEATURE_RUN),
    ("used", FEATURES, TRAIN_1),
]


async def test_upstream_of_a_deployment_reaches_the_raw_data(
    conn: asyncpg.Connection, demo: DemoGraph
) -> None:
    graph = await walk_lineage(conn, [ref(demo, ENDPOINT)], Direction.UPSTREAM, depth=20)
    assert depths(demo, graph) == expect_nodes(demo, {
        ENDPOINT: 0, DEPLOY: 1, MODEL_2: 2, TRAIN_2: 3, CKPT_2: 3, FEATURES: 4, CKPT_1: 4,
        FEATURE_RUN: 5, TRAIN_1: 5, RAW: 6,
    })  # fmt: skip
    assert links(demo, graph) == expect_links(demo, UPSTREAM_OF_ENDPOINT + FARTHER_UPSTREAM)
    assert not graph.truncated
    assert graph.truncation is None
    model = next(n for n in graph.nodes if n.ref == ref(demo, MODEL_2))
    assert model.artifact is not None
    assert (model.artifact.name, model.artifact.kind, model.artifact.digest) == (
        "model-2",
        "model",
        MODEL_2.digest,
    )
    deploy = next(n for n in graph.nodes if n.ref == NodeRef.run(DEPLOY))
    assert deploy.run is not None
    assert (deploy.run.job_namespace, deploy.run.job_name) == ("serving", "deploy")


async def test_depth_limits_the_walk(conn: asyncpg.Connection, demo: DemoGraph) -> None:
    graph = await walk_lineage(conn, [ref(demo, ENDPOINT)], Direction.UPSTREAM, depth=4)
    assert set(depths(demo, graph)) == {ref(demo, n) for n in (ENDPOINT, DEPLOY, MODEL_2, TRAIN_2, CKPT_2,
                                                               FEATURES, CKPT_1)}  # fmt: skip
    assert links(demo, graph) == expect_links(demo, UPSTREAM_OF_ENDPOINT)
    only_root = await walk_lineage(conn, [ref(demo, ENDPOINT)], Direction.UPSTREAM, depth=0)
    assert depths(demo, only_root) == {ref(demo, ENDPOINT): 0}
    assert only_root.edges == ()


async def test_downstream_of_raw_data_and_as_of(conn: asyncpg.Connection, demo: DemoGraph) -> None:
    everything: dict[Node, int] = {
        RAW: 0, FEATURE_RUN: 1, FEATURES: 2, TRAIN_1: 3, TRAIN_2: 3, CKPT_1: 4, MODEL_1: 4,
        CKPT_2: 4, MODEL_2: 4, DEPLOY: 5, ENDPOINT: 6,
    }  # fmt: skip
    graph = await walk_lineage(conn, [ref(demo, RAW)], Direction.DOWNSTREAM, depth=6)
    assert depths(demo, graph) == expect_nodes(demo, everything)
    default_depth = await walk_lineage(conn, [ref(demo, RAW)], Direction.DOWNSTREAM)
    assert ref(demo, ENDPOINT) not in depths(demo, default_depth)  # 6 edges away; the default is 5
    assert links(demo, graph) == expect_links(demo, [
        ("used", RAW, FEATURE_RUN), ("generated", FEATURE_RUN, FEATURES), ("used", FEATURES, TRAIN_1),
        ("used", FEATURES, TRAIN_2), ("generated", TRAIN_1, CKPT_1), ("generated", TRAIN_1, MODEL_1),
        ("used", CKPT_1, TRAIN_2), ("generated", TRAIN_2, CKPT_2), ("generated", TRAIN_2, MODEL_2),
        ("derived_from", CKPT_2, MODEL_2), ("used", MODEL_2, DEPLOY), ("generated", DEPLOY, ENDPOINT),
    ])  # fmt: skip
    t1, t2, t3 = demo.sealed
    as_known: dict[datetime, dict[Node, int]] = {
        t1: {RAW: 0, FEATURE_RUN: 1, FEATURES: 2},
        t2: {RAW: 0, FEATURE_RUN: 1, FEATURES: 2, TRAIN_1: 3, CKPT_1: 4, MODEL_1: 4},
        t3: everything,
    }
    for as_of, expected in as_known.items():
        then = await walk_lineage(conn, [ref(demo, RAW)], Direction.DOWNSTREAM, depth=6, as_of=as_of)
        assert depths(demo, then) == expect_nodes(demo, expected), as_of
        assert all(e.recorded_at <= as_of for e in then.edges)
        assert then.as_of == as_of
    assert await get_artifact(conn, demo[RAW], as_of=t1 - timedelta(microseconds=1)) is None
    assert await get_artifact(conn, demo[RAW], as_of=t1) is not None
    assert await get_run(conn, TRAIN_2, as_of=t2) is None
    run = await get_run(conn, TRAIN_2, as_of=t3)
    assert run is not None
    assert (run.job_namespace, run.job_name) == ("ml", "train")
    assert await get_run(conn, "00000000-0000-4000-8000-00000000ffff") is None


async def test_both_directions_and_the_edges_evidence(conn: asyncpg.Connection, demo: DemoGraph) -> None:
    graph = await walk_lineage(conn, [NodeRef.run(TRAIN_2)], Direction.BOTH, depth=1)
    assert depths(demo, graph) == expect_nodes(
        demo, {TRAIN_2: 0, FEATURES: 1, CKPT_1: 1, CKPT_2: 1, MODEL_2: 1}
    )
    assert links(demo, graph) == expect_links(demo, [
        ("used", FEATURES, TRAIN_2), ("used", CKPT_1, TRAIN_2),
        ("generated", TRAIN_2, CKPT_2), ("generated", TRAIN_2, MODEL_2),
        ("derived_from", CKPT_2, MODEL_2),  # between kept nodes, though no walk followed it
    ])  # fmt: skip
    # The feature run's START and COMPLETE both record its input: the edge is the START's.
    first = await walk_lineage(conn, [NodeRef.run(FEATURE_RUN)], Direction.UPSTREAM, depth=1)
    (edge,) = first.edges
    recorded = await conn.fetchrow("SELECT event_type, run_id FROM events WHERE event_id = $1", edge.event_id)
    assert recorded is not None
    assert (recorded["event_type"], recorded["run_id"]) == ("START", FEATURE_RUN)
    assert edge.recorded_at == demo.sealed[0]


async def test_node_cap_keeps_the_nearest_nodes_and_says_so(
    conn: asyncpg.Connection, demo: DemoGraph
) -> None:
    graph = await walk_lineage(conn, [ref(demo, RAW)], Direction.DOWNSTREAM, max_nodes=3)
    assert graph.truncated
    assert graph.truncation is not None
    assert "max_nodes 3" in graph.truncation
    assert depths(demo, graph) == expect_nodes(demo, {RAW: 0, FEATURE_RUN: 1, FEATURES: 2})
    assert links(demo, graph) == expect_links(
        demo, [("used", RAW, FEATURE_RUN), ("generated", FEATURE_RUN, FEATURES)]
    )
    exact = await walk_lineage(conn, [ref(demo, RAW)], Direction.DOWNSTREAM, depth=6, max_nodes=11)
    assert len(exact.nodes) == 11
    assert not exact.truncated


async def test_the_visit_budget_bounds_a_walk_with_many_path_lengths(conn: asyncpg.Connection) -> None:
    """A ladder: run i reads every artifact 0..i and writes artifact i+1, so 40 runs and 41 artifacts
    are each reached along paths of up to 10 lengths within depth 20: 711 visits of 81 nodes."""
    steps = [artifact("ladder", f"step-{i}", "dataset") for i in range(41)]
    runs = [f"00000000-0000-4000-8000-0000000002{i:02d}" for i in range(40)]
    shard = await ensure_shard(conn, "provledger.events", 1)
    events = [
        event(run, "COMPLETE", tuple(steps[: i + 1]), (steps[i + 1],), T1) for i, run in enumerate(runs)
    ]
    await seal(conn, shard, events, T1)
    (root,) = (await find_artifacts(conn, namespace="ladder", name="step-0", limit=1)).items
    roomy = await walk_lineage(conn, [root.ref], Direction.DOWNSTREAM, depth=20, max_nodes=90)
    assert (len(roomy.nodes), roomy.truncated) == (81, False)
    assert len(roomy.edges) == sum(i + 2 for i in range(40))  # run i: i+1 inputs and 1 output
    tight = await walk_lineage(conn, [root.ref], Direction.DOWNSTREAM, depth=20, max_nodes=81)
    assert tight.truncated
    assert tight.truncation is not None
    assert "budget of 648 node visits" in tight.truncation


async def test_walk_bounds_are_enforced(conn: asyncpg.Connection, demo: DemoGraph) -> None:
    root = [ref(demo, RAW)]
    with pytest.raises(InvalidRequest, match="depth 21 is out of range: use 0 to 20"):
        await walk_lineage(conn, root, Direction.DOWNSTREAM, depth=21)
    with pytest.raises(InvalidRequest, match="max_nodes 5001 is out of range: use 1 to 5000"):
        await walk_lineage(conn, root, Direction.DOWNSTREAM, max_nodes=5001)
    with pytest.raises(InvalidRequest, match="max_nodes 0"):
        await walk_lineage(conn, root, Direction.DOWNSTREAM, max_nodes=0)


async def test_artifact_lists_filter_and_page_through_everything(
    conn: asyncpg.Connection, demo: DemoGraph
) -> None:
    seen, after, pages = [], None, 0
    while True:
        page = await find_artifacts(conn, after=after, limit=3)
        seen += [a.artifact_id for a in page.items]
        pages += 1
        if page.next_key is None:
            break
        after = page.next_key
    assert seen == sorted(demo.ids.values())
    assert pages == 3
    by_digest = await find_artifacts(conn, digest=FEATURES.digest, limit=10)
    assert [a.artifact_id for a in by_digest.items] == [demo[FEATURES]]
    by_name = await find_artifacts(conn, namespace="models", name="ckpt-2", limit=10)
    assert [a.artifact_id for a in by_name.items] == [demo[CKPT_2]]
    assert len((await find_artifacts(conn, namespace="models", limit=10)).items) == 4
    assert {a.name for a in (await find_artifacts(conn, kind="model", limit=10)).items} == {
        "model-1",
        "model-2",
    }
    known_at_t2 = await find_artifacts(conn, as_of=demo.sealed[1], limit=10)
    assert {a.name for a in known_at_t2.items} == {"raw-images", "features", "ckpt-1", "model-1"}
    assert (await find_artifacts(conn, name="nothing", limit=10)).items == ()


async def test_runs_list_and_a_runs_inputs_and_outputs(conn: asyncpg.Connection, demo: DemoGraph) -> None:
    seen, after = [], None
    while True:
        page = await list_runs(conn, after=after, limit=1)
        seen += [r.run_id for r in page.items]
        if page.next_key is None:
            break
        after = page.next_key
    assert seen == [FEATURE_RUN, TRAIN_1, TRAIN_2, DEPLOY]
    training = await list_runs(conn, job_namespace="ml", job_name="train", limit=10)
    assert [r.run_id for r in training.items] == [TRAIN_1, TRAIN_2]
    items, key = [], None
    while True:
        io = await run_artifacts(conn, TRAIN_2, after=key, limit=1)
        items += [(i.relation, i.artifact.artifact_id) for i in io.items]
        if io.next_key is None:
            break
        key = io.next_key
    inputs = sorted([demo[FEATURES], demo[CKPT_1]])
    outputs = sorted([demo[CKPT_2], demo[MODEL_2]])
    assert items == [("used", i) for i in inputs] + [("generated", o) for o in outputs]
    feature_io = await run_artifacts(conn, FEATURE_RUN, limit=10)
    assert [(i.relation, i.artifact.name) for i in feature_io.items] == [
        ("used", "raw-images"),
        ("generated", "features"),
    ]
    assert (await run_artifacts(conn, TRAIN_2, as_of=demo.sealed[1], limit=10)).items == ()


async def test_marquez_roots(conn: asyncpg.Connection, demo: DemoGraph) -> None:
    assert [a.artifact_id for a in await dataset_roots(conn, "s3://lake", "features", None, 10)] == [
        demo[FEATURES]
    ]
    assert [r.run_id for r in await job_roots(conn, "ml", "train", None, 10)] == [TRAIN_1, TRAIN_2]
    assert [r.run_id for r in await job_roots(conn, "ml", "train", demo.sealed[1], 10)] == [TRAIN_1]
    assert await dataset_roots(conn, "s3://lake", "features", demo.sealed[0] - timedelta(seconds=1), 10) == []
