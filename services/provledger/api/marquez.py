"""Marquez's lineage shape: node ids in, ``{"graph": [...]}`` out, so Marquez tools can read us.

SPEC (Marquez ``NodeId``, ``Node``, ``Edge``, ``DatasetData``, ``JobData``): node ids are
``dataset:<namespace>:<name>`` and ``job:<namespace>:<name>`` (also ``run:<uuid>``); a node is
``{"id", "type", "data", "inEdges", "outEdges"}`` with type ``DATASET`` or ``JOB`` and each edge
``{"origin", "destination"}``; jobs link to datasets (``dataset -> job`` for an input,
``job -> dataset`` for an output). A namespace may itself hold colons (``s3://bucket``,
``postgres://host:5432``), so, as Marquez does, the name starts at the first colon that is
followed by neither ``//`` nor a digit.

Mapping: every version (digest) of an artifact collapses into the dataset node of its
namespace and name, every run into the job node of its job; ``derived_from`` becomes a
``dataset -> dataset`` edge. Marquez's ``depth`` counts jobs away from the node; the walk runs
upstream and downstream over ``2 * depth + 2`` edges from a dataset, ``2 * depth + 1`` from a job,
so it does not reach sideways to the siblings Marquez's undirected walk would include.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel

from provledger.api.marquez_models import DatasetCore, dataset_core
from provledger.errors import InvalidRequest
from provledger.store import lineage as store

#: Marquez ``depth`` (jobs away from the node): default and the largest the edge bound allows.
DEFAULT_DEPTH: Final = 2
MAX_DEPTH: Final = (store.MAX_DEPTH - 2) // 2
#: Response header of the lineage endpoint when its graph was cut (Marquez's shape has no field for it).
TRUNCATED_HEADER: Final = "Provledger-Truncated"

_NAME_START = re.compile(r":(?!//|\d)")


@dataclass(frozen=True, slots=True)
class MarquezNode:
    """A parsed Marquez node id."""

    type: Literal["dataset", "job", "run"]
    namespace: str
    name: str


def parse_node_id(node_id: str) -> MarquezNode:
    """Read a Marquez node id; :class:`InvalidRequest` says what we accept and why not the rest."""
    kind, _, rest = node_id.partition(":")
    if kind == "datasetField":
        raise InvalidRequest(
            f"{node_id[:120]!r}: column-level lineage (datasetField) is not recorded by provledger; "
            "ask for the dataset: dataset:<namespace>:<name>"
        )
    if kind == "run" and rest:
        return MarquezNode("run", "", rest)
    if kind not in ("dataset", "job"):
        raise InvalidRequest(
            f"node id {node_id[:120]!r} must be dataset:<namespace>:<name>, "
            "job:<namespace>:<name> or run:<uuid>"
        )
    if "#" in rest:
        raise InvalidRequest(
            f"node id {node_id[:120]!r} names a version (#...); provledger versions are content digests: "
            "drop the version to see every digest, or use /v1/artifacts?digest= and /v1/lineage"
        )
    match = _NAME_START.search(rest)
    if match is None or match.start() == 0 or match.end() == len(rest):
        raise InvalidRequest(f"node id {node_id[:120]!r} has no <namespace>:<name> after '{kind}:'")
    return MarquezNode(kind, rest[: match.start()], rest[match.end() :])  # type: ignore[arg-type]


def edge_depth(node: MarquezNode, depth: int) -> int:
    """Our walk depth (edges) for Marquez's ``depth`` (jobs away from the node)."""
    return 2 * depth + (2 if node.type == "dataset" else 1)


class DatasetId(BaseModel):
    namespace: str
    name: str


class MarquezEdge(BaseModel):
    origin: str
    destination: str


class DatasetVersionOut(BaseModel):
    artifact_id: int
    digest: str
    kind: str
    version: str | None
    first_seen: datetime


class DatasetData(DatasetCore):
    """Marquez ``DatasetData``; ``provledger_versions`` lists the digests behind the node."""

    id: DatasetId
    updatedAt: datetime
    lastLifecycleState: str | None = None
    provledger_versions: list[DatasetVersionOut]


class JobData(BaseModel):
    """Marquez ``JobData``; ``provledger_runs`` lists the runs behind the node."""

    id: DatasetId
    type: Literal["BATCH"] = "BATCH"
    name: str
    simpleName: str
    parentJobName: str | None = None
    parentJobUuid: str | None = None
    createdAt: datetime
    updatedAt: datetime
    namespace: str
    inputs: list[DatasetId]
    outputs: list[DatasetId]
    location: str | None = None
    description: str | None = None
    latestRun: None = None
    provledger_runs: list[str]


class MarquezGraphNode(BaseModel):
    id: str
    type: Literal["DATASET", "JOB"]
    data: DatasetData | JobData
    inEdges: list[MarquezEdge]
    outEdges: list[MarquezEdge]


class MarquezLineage(BaseModel):
    """Marquez's ``Lineage``: the graph's nodes sorted by id."""

    graph: list[MarquezGraphNode]


def _node_id(node: store.GraphNode) -> str:
    if node.artifact is not None:
        return f"dataset:{node.artifact.namespace}:{node.artifact.name}"
    assert node.run is not None
    return f"job:{node.run.job_namespace}:{node.run.job_name}"


def to_marquez(graph: store.LineageGraph) -> MarquezLineage:
    """Collapse artifacts into datasets and runs into jobs, keeping every edge between them once."""
    ids = {node.ref: _node_id(node) for node in graph.nodes}
    members: dict[str, list[store.GraphNode]] = defaultdict(list)
    for node in graph.nodes:
        members[ids[node.ref]].append(node)
    edges = sorted({(ids[e.source], ids[e.target]) for e in graph.edges if ids[e.source] != ids[e.target]})
    ins: dict[str, list[MarquezEdge]] = defaultdict(list)
    outs: dict[str, list[MarquezEdge]] = defaultdict(list)
    for origin, destination in edges:
        edge = MarquezEdge(origin=origin, destination=destination)
        outs[origin].append(edge)
        ins[destination].append(edge)
    nodes = []
    for node_id in sorted(members):
        is_dataset = node_id.startswith("dataset:")
        data = (
            _dataset(members[node_id]) if is_dataset else _job(members[node_id], ins[node_id], outs[node_id])
        )
        nodes.append(MarquezGraphNode(id=node_id, type="DATASET" if is_dataset else "JOB", data=data,
                                      inEdges=ins[node_id], outEdges=outs[node_id]))  # fmt: skip
    return MarquezLineage(graph=nodes)


def _dataset(nodes: list[store.GraphNode]) -> DatasetData:
    versions = sorted((n.artifact for n in nodes if n.artifact), key=lambda a: a.artifact_id)
    newest, times = versions[-1], [a.first_seen for a in versions]
    return DatasetData(
        id=DatasetId(namespace=newest.namespace, name=newest.name),
        updatedAt=max(times),
        provledger_versions=[
            DatasetVersionOut(
                artifact_id=a.artifact_id,
                digest=a.digest,
                kind=a.kind,
                version=a.version,
                first_seen=a.first_seen,
            )
            for a in versions
        ],
        **dataset_core(newest, min(times)),
    )


def _dataset_ids(edges: list[MarquezEdge], end: Literal["origin", "destination"]) -> list[DatasetId]:
    ids = [getattr(edge, end) for edge in edges]
    return [DatasetId(namespace=n.namespace, name=n.name) for n in map(parse_node_id, ids)]


def _job(nodes: list[store.GraphNode], ins: list[MarquezEdge], outs: list[MarquezEdge]) -> JobData:
    runs = sorted((n.run for n in nodes if n.run), key=lambda r: (r.first_seen, r.run_id))
    first = runs[0]
    return JobData(
        id=DatasetId(namespace=first.job_namespace, name=first.job_name),
        name=first.job_name,
        simpleName=first.job_name.rsplit(".", 1)[-1],
        createdAt=runs[0].first_seen,
        updatedAt=runs[-1].first_seen,
        namespace=first.job_namespace,
        inputs=_dataset_ids(ins, "origin"),
        outputs=_dataset_ids(outs, "destination"),
        provledger_runs=[r.run_id for r in runs],
    )
