"""Marquez's response shapes, and the pure mapping of provledger's values onto them.

SPEC (Marquez ``spec/openapi.yml`` and its web UI's ``web/src/types/api.ts``): field names,
types and nesting as the UI reads them: a ``Namespace`` has ``name, createdAt, updatedAt,
ownerName, description, isHidden``; a ``Dataset`` ``id {namespace, name}, type, name,
physicalName, createdAt, updatedAt, namespace, sourceName, fields[], tags[], lastModifiedAt,
description, facets {}, deleted``; a ``DatasetVersion`` adds ``version`` and ``createdByRun``; a
``Job`` ``id, type, name, simpleName, createdAt, updatedAt, inputs[], outputs[], namespace,
location, description, latestRun, latestRuns[], tags[], parentJobName, parentJobUuid``; a
``Run`` ``id, createdAt, updatedAt, nominalStartTime, nominalEndTime, state (NEW | RUNNING |
COMPLETED | FAILED | ABORTED), jobVersion {namespace, name, version}, startedAt, endedAt,
durationMs, args {}, facets {}``; lists are ``{<items>: [...], totalCount}``; an error is
``{code, message, details}`` (Dropwizard's ``ErrorMessage``, which the UI's request code reads).

Mapping: a dataset's version is its content digest (``sha256:<hex>``; Marquez's are UUIDs, but
the UI only shows and copies them), and its ``facets`` hold the newest digest as the
``provledger_digest`` facet. A run's state is its last sealed event's type. Jobs have no versions
in provledger: ``jobVersion.version`` is the run's own id.

>>> run_state("FAIL"), run_state(None), last_event_types(["COMPLETED"])
('FAILED', 'NEW', ['COMPLETE'])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from provledger.errors import VerificationError
from provledger.events.canonical import decode_canonical
from provledger.events.model import ArtifactRef
from provledger.events.openlineage import DIGEST_FACET, digest_facet, to_openlineage
from provledger.store import marquez as store
from provledger.store.lineage import Artifact

RunStateName = Literal["NEW", "RUNNING", "COMPLETED", "FAILED", "ABORTED"]

#: SPEC (Marquez ``RunState``, from OpenLineage's eventType): the state a run's last event leaves it in.
RUN_STATES: Final[dict[str, RunStateName]] = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
    "OTHER": "RUNNING",
    "INFERENCE": "RUNNING",
}
_ENDED: Final = frozenset({"COMPLETED", "FAILED", "ABORTED"})
#: Who Marquez's UI shows as a namespace's owner: nobody owns a ledger namespace.
OWNER: Final = "provledger"


class MarquezError(BaseModel):
    """Marquez's error body (Dropwizard ``ErrorMessage``)."""

    code: int = Field(description="The HTTP status code.")
    message: str = Field(description="What went wrong, and what to do about it.")
    details: str | None = Field(None, description="Each invalid parameter, when there are several.")


class MarquezNamespace(BaseModel):
    name: str
    createdAt: datetime
    updatedAt: datetime
    ownerName: str = OWNER
    description: str | None = None
    isHidden: bool = False

    @classmethod
    def of(cls, ns: store.Namespace) -> MarquezNamespace:
        return cls(name=ns.name, createdAt=ns.created_at, updatedAt=ns.updated_at)


class MarquezNamespaceList(BaseModel):
    namespaces: list[MarquezNamespace]


class MarquezId(BaseModel):
    namespace: str
    name: str


class MarquezVersionId(BaseModel):
    namespace: str
    name: str
    version: str


class MarquezRun(BaseModel):
    """Marquez ``Run``: state and times from the run's first and last sealed event."""

    id: str
    createdAt: datetime
    updatedAt: datetime
    nominalStartTime: datetime | None = None
    nominalEndTime: datetime | None = None
    state: RunStateName
    jobVersion: MarquezVersionId
    startedAt: datetime | None
    endedAt: datetime | None
    durationMs: int | None
    args: dict[str, str] = Field(default_factory=dict)
    inputDatasetVersions: list[Any] = Field(default_factory=list)
    outputDatasetVersions: list[Any] = Field(default_factory=list)
    context: dict[str, str] = Field(default_factory=dict)
    facets: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, state: store.RunState) -> MarquezRun:
        run = state.run
        name = run_state(state.last_event_type)
        ended = state.last_event_at if name in _ENDED else None
        duration = None
        if ended is not None and state.started_at is not None:
            duration = int((ended - state.started_at).total_seconds() * 1000)
        return cls(
            id=run.run_id,
            createdAt=run.first_seen,
            updatedAt=state.last_event_at or run.first_seen,
            state=name,
            jobVersion=MarquezVersionId(namespace=run.job_namespace, name=run.job_name, version=run.run_id),
            startedAt=state.started_at,
            endedAt=ended,
            durationMs=duration,
        )


def run_state(last_event_type: str | None) -> RunStateName:
    """Marquez's state of a run whose last sealed event has this type (``NEW`` before any)."""
    return "NEW" if last_event_type is None else RUN_STATES.get(last_event_type, "RUNNING")


def last_event_types(states: Sequence[RunStateName]) -> list[str]:
    """The event types that leave a run in one of ``states`` (none for ``NEW``: a run has events)."""
    return sorted(event_type for event_type, state in RUN_STATES.items() if state in states)


class MarquezRunList(BaseModel):
    runs: list[MarquezRun]
    totalCount: int


class MarquezJob(BaseModel):
    """Marquez ``Job``: every run of a namespace and name; inputs and outputs of its latest run."""

    id: MarquezId
    type: Literal["BATCH"] = "BATCH"
    name: str
    simpleName: str
    createdAt: datetime
    updatedAt: datetime
    namespace: str
    inputs: list[MarquezId]
    outputs: list[MarquezId]
    location: str | None = None
    description: str | None = None
    latestRun: MarquezRun
    latestRuns: list[MarquezRun]
    tags: list[str] = Field(default_factory=list)
    parentJobName: str | None = None
    parentJobUuid: str | None = None
    facets: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, job: store.Job) -> MarquezJob:
        latest = MarquezRun.of(job.latest)
        return cls(
            id=MarquezId(namespace=job.namespace, name=job.name),
            name=job.name,
            simpleName=job.name.rsplit(".", 1)[-1],
            createdAt=job.created_at,
            updatedAt=latest.updatedAt,
            namespace=job.namespace,
            inputs=[MarquezId(namespace=ns, name=name) for ns, name in job.inputs],
            outputs=[MarquezId(namespace=ns, name=name) for ns, name in job.outputs],
            latestRun=latest,
            latestRuns=[latest],
        )


class MarquezJobList(BaseModel):
    jobs: list[MarquezJob]
    totalCount: int


def _digest_facets(artifact: Artifact) -> dict[str, Any]:
    ref = ArtifactRef(artifact.namespace, artifact.name, artifact.digest, artifact.kind, artifact.version)
    return {DIGEST_FACET: digest_facet(ref)}


class DatasetCore(BaseModel):
    """What Marquez's ``Dataset`` and ``DatasetVersion`` (and the lineage graph's dataset) share.

    provledger records no schema, tags or descriptions: ``fields`` and ``tags`` are empty.
    """

    type: Literal["DB_TABLE"] = "DB_TABLE"
    name: str
    physicalName: str
    createdAt: datetime
    namespace: str
    sourceName: str
    fields: list[Any] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    lastModifiedAt: datetime | None
    description: str | None = None
    facets: dict[str, Any] = Field(default_factory=dict)


def dataset_core(artifact: Artifact, created_at: datetime) -> dict[str, Any]:
    """The shared fields of a dataset whose newest (or only) version is ``artifact``."""
    return {
        "name": artifact.name,
        "physicalName": artifact.name,
        "createdAt": created_at,
        "namespace": artifact.namespace,
        "sourceName": artifact.namespace,
        "lastModifiedAt": artifact.first_seen,
        "facets": _digest_facets(artifact),
    }


class MarquezDataset(DatasetCore):
    """Marquez ``Dataset``: every digest of one named artifact; ``facets`` carry the newest digest."""

    id: MarquezId
    updatedAt: datetime
    lastLifecycleState: str | None = None
    currentVersion: str
    deleted: bool = False
    columnLineage: list[Any] = Field(default_factory=list)

    @classmethod
    def of(cls, dataset: store.Dataset) -> MarquezDataset:
        latest = dataset.latest
        return cls(
            id=MarquezId(namespace=latest.namespace, name=latest.name),
            updatedAt=latest.first_seen,
            currentVersion=latest.digest,
            **dataset_core(latest, dataset.created_at),
        )


class MarquezDatasetList(BaseModel):
    datasets: list[MarquezDataset]
    totalCount: int


class MarquezDatasetVersion(DatasetCore):
    """Marquez ``DatasetVersion``: one content digest; ``createdByRun`` the run that generated it."""

    id: MarquezVersionId
    version: str
    lifecycleState: str | None = None
    createdByRun: MarquezRun | None

    @classmethod
    def of(cls, version: store.DatasetVersion) -> MarquezDatasetVersion:
        a = version.artifact
        return cls(
            id=MarquezVersionId(namespace=a.namespace, name=a.name, version=a.digest),
            version=a.digest,
            createdByRun=MarquezRun.of(version.created_by) if version.created_by else None,
            **dataset_core(a, a.first_seen),
        )


class MarquezDatasetVersionList(BaseModel):
    versions: list[MarquezDatasetVersion]
    totalCount: int


class MarquezTag(BaseModel):
    name: str
    description: str | None = None


class MarquezTagList(BaseModel):
    """provledger records no tags: always empty."""

    tags: list[MarquezTag]


class SearchResultOut(BaseModel):
    type: Literal["DATASET", "JOB"]
    name: str
    updatedAt: datetime
    namespace: str
    nodeId: str


class SearchResultList(BaseModel):
    totalCount: int
    results: list[SearchResultOut]


class OpenSearchResult(BaseModel):
    """Marquez's ``/api/v2beta/search`` answer: OpenSearch hits (here from the ledger) and highlights."""

    hits: list[dict[str, Any]]
    highlights: list[dict[str, list[str]]]


class LineageEventList(BaseModel):
    """Marquez ``LineageEventList``: sealed events as OpenLineage RunEvents."""

    events: list[dict[str, Any]]
    totalCount: int


class RunFacets(BaseModel):
    """Marquez ``FacetsResult``: the run's (or its job's) facets, merged over its events in order."""

    runId: str
    facets: dict[str, Any]


class LineageMetric(BaseModel):
    startInterval: datetime
    endInterval: datetime
    fail: int
    start: int
    complete: int
    abort: int


class IntervalMetric(BaseModel):
    startInterval: datetime
    endInterval: datetime
    count: int


def merged_facets(run_events: list[dict[str, Any]], side: Literal["run", "job"]) -> dict[str, Any]:
    """The ``run`` or ``job`` facets of RunEvents, later events' facets replacing earlier ones'."""
    facets: dict[str, Any] = {}
    for event in run_events:
        part = event.get(side)
        found = part.get("facets") if isinstance(part, dict) else None
        if isinstance(found, dict):
            facets.update(found)
    return facets


def run_event(canonical: bytes) -> dict[str, Any]:
    """The OpenLineage RunEvent of a sealed event's canonical bytes (a native event mapped to one).

    Raises :class:`VerificationError` for stored bytes that are not an event: the ledger's data
    failed a check, which ``provledger audit`` locates.
    """
    try:
        return to_openlineage(decode_canonical(canonical))
    except Exception as exc:  # fastavro documents no exception hierarchy for bytes it cannot read
        raise VerificationError(
            f"a stored event's canonical bytes do not decode ({type(exc).__name__})"
        ) from exc
