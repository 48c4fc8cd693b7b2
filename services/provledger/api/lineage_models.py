"""Response bodies of the lineage endpoints; as pydantic models they are the OpenAPI schemas.

Nodes are named ``artifact:<artifact_id>`` and ``run:<run_id>`` everywhere (the ``node``
parameter of ``/v1/lineage`` takes the same strings), and every edge links to the evidence of
the first sealed event that recorded it, so any answer can be proven offline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from provledger.api.models import JobRef
from provledger.store import lineage as store

NEXT_CURSOR = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class ArtifactOut(BaseModel):
    """An artifact: one content digest of a named dataset, model, checkpoint..."""

    node: str = Field(description="Its node id in lineage graphs: artifact:<artifact_id>.")
    artifact_id: int
    namespace: str
    name: str
    digest: str = Field(description="sha256:<hex> of the artifact's content.")
    kind: str
    version: str | None
    first_seen: datetime = Field(description="When the first block recording it was sealed.")

    @classmethod
    def of(cls, artifact: store.Artifact) -> ArtifactOut:
        return cls(node=str(artifact.ref), artifact_id=artifact.artifact_id, namespace=artifact.namespace,
                   name=artifact.name, digest=artifact.digest, kind=artifact.kind, version=artifact.version,
                   first_seen=artifact.first_seen)  # fmt: skip


class ArtifactPage(BaseModel):
    items: list[ArtifactOut]
    next_cursor: str | None = NEXT_CURSOR


class RunSummary(BaseModel):
    """A run and its job; ``GET /v1/runs/{run_id}`` lists its events."""

    node: str = Field(description="Its node id in lineage graphs: run:<run_id>.")
    run_id: str
    parent_run_id: str | None
    job: JobRef
    first_seen: datetime = Field(description="Time of the run's first event.")

    @classmethod
    def of(cls, run: store.Run) -> RunSummary:
        job = JobRef(namespace=run.job_namespace, name=run.job_name)
        return cls(node=str(run.ref), run_id=run.run_id, parent_run_id=run.parent_run_id, job=job,
                   first_seen=run.first_seen)  # fmt: skip


class RunPage(BaseModel):
    items: list[RunSummary]
    next_cursor: str | None = NEXT_CURSOR


class RecordedBy(BaseModel):
    """The first sealed event that recorded a fact, and where to get its proof."""

    recorded_at: datetime = Field(description="sealed_at of the block holding that event.")
    event_id: str
    evidence: str = Field(description="Path of that event's evidence bundle.")

    @classmethod
    def of(cls, recorded_at: datetime, event_id: object) -> RecordedBy:
        return cls(
            recorded_at=recorded_at, event_id=str(event_id), evidence=f"/v1/events/{event_id}/evidence"
        )


class RunArtifactOut(BaseModel):
    artifact: ArtifactOut
    recorded: RecordedBy


class RunLineageOut(BaseModel):
    """A run with the artifacts it used and generated. Pages list all inputs, then all outputs."""

    run: RunSummary
    inputs: list[RunArtifactOut] = Field(description="Artifacts the run used (on this page).")
    outputs: list[RunArtifactOut] = Field(description="Artifacts the run generated (on this page).")
    next_cursor: str | None = NEXT_CURSOR


class LineageNodeOut(BaseModel):
    id: str = Field(description="artifact:<artifact_id> or run:<run_id>.")
    type: Literal["artifact", "run"]
    depth: int = Field(description="Edges between this node and the nearest root.")
    artifact: ArtifactOut | None = Field(None, description="Set when type is artifact.")
    run: RunSummary | None = Field(None, description="Set when type is run.")

    @classmethod
    def of(cls, node: store.GraphNode) -> LineageNodeOut:
        return cls(
            id=str(node.ref),
            type=node.ref.kind,
            depth=node.depth,
            artifact=ArtifactOut.of(node.artifact) if node.artifact else None,
            run=RunSummary.of(node.run) if node.run else None,
        )


class LineageEdgeOut(BaseModel):
    """An edge in the direction data flows: artifact -used-> run, run -generated-> artifact,
    source artifact -derived_from-> artifact."""

    relation: Literal["used", "generated", "derived_from"]
    source: str
    target: str
    recorded: RecordedBy

    @classmethod
    def of(cls, edge: store.Edge) -> LineageEdgeOut:
        return cls(relation=edge.relation, source=str(edge.source), target=str(edge.target),
                   recorded=RecordedBy.of(edge.recorded_at, edge.event_id))  # fmt: skip


class LineageGraphOut(BaseModel):
    """The nodes within ``depth`` edges of the roots, nearest first, and the edges between them."""

    roots: list[str]
    direction: store.Direction
    depth: int
    max_nodes: int
    as_of: datetime | None = Field(description="Only edges sealed at or before this time count; null: now.")
    truncated: bool = Field(description="True when more nodes lie within depth than max_nodes allows.")
    truncation: str | None = Field(description="Why the graph was cut, when truncated.")
    nodes: list[LineageNodeOut]
    edges: list[LineageEdgeOut]

    @classmethod
    def of(cls, graph: store.LineageGraph) -> LineageGraphOut:
        return cls(
            roots=[str(root) for root in graph.roots],
            direction=graph.direction,
            depth=graph.depth,
            max_nodes=graph.max_nodes,
            as_of=graph.as_of,
            truncated=graph.truncated,
            truncation=graph.truncation,
            nodes=[LineageNodeOut.of(node) for node in graph.nodes],
            edges=[LineageEdgeOut.of(edge) for edge in graph.edges],
        )
