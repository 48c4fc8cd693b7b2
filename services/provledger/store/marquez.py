"""The reads behind Marquez's API: namespaces, datasets, jobs, runs and the sealed events, by page.

Marquez's model is named datasets and jobs; provledger's is artifacts (one per content digest)
and runs. So a *dataset* is every artifact of one ``(namespace, name)``, its versions their
digests; a *job* is every run of one ``(job_namespace, job_name)``; a *namespace* is any job or
artifact namespace. Nothing here knows HTTP or Marquez's JSON; :mod:`provledger.api.marquez_models`
shapes the values.

Cost on a large ledger (10^6 events, about as many artifacts when inference names each
prediction). Marquez pages by ``offset``, so every list takes one (at most :data:`MAX_OFFSET`)
and counts its ``totalCount`` only up to :data:`COUNT_CAP`: a page never walks further than
``offset + limit`` index entries, a count no further than the cap.

* Jobs come from the ``runs_job_first_seen`` index ``(job_namespace, job_name, first_seen,
  run_id)`` by a skip scan: one index probe per distinct job, never a scan of the runs.
* A job's runs, first and latest run: that index's range of the job. A run's state: its first
  and last event by the ``events_run`` index ``(run_id, event_time)``.
* A dataset and its versions: the ``artifacts_name`` index ``(name, artifact_id)``.
* Sealed events in time order: the events' primary key, since every event id is a UUIDv7
  whose first 48 bits are milliseconds since the epoch (for a RunEvent its ``eventTime``).
* Namespaces and the datasets of one namespace are the exception: no index leads with an
  artifact's namespace, so those read every artifact row (a sequential scan, ~0.1-0.3 s per
  million artifacts), bounded by the statement timeout. An index ``artifacts (namespace, name,
  artifact_id)`` would make both index-only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Generic, TypeVar

import asyncpg

from provledger.store.db import Conn
from provledger.store.lineage import Artifact, Run

#: Deepest ``offset`` a Marquez list accepts, and the largest ``totalCount`` it reports.
MAX_OFFSET: Final = 10_000
COUNT_CAP: Final = MAX_OFFSET
#: Namespaces listed at most (Marquez's UI asks for all of them at once).
MAX_NAMESPACES: Final = 1000
#: Inputs and outputs shown per job (those of its latest run).
MAX_JOB_DATASETS: Final = 500
#: Events a run's facets are merged from (its first ones, in event-time order).
MAX_FACET_EVENTS: Final = 100
#: Jobs a list filtered by the state of their latest run looks through at most.
STATE_SCAN: Final = 2000

T = TypeVar("T")

_ARTIFACT_COLUMNS = "artifact_id, namespace, name, digest, kind, version, first_seen"
_UUID7_MAX_MS: Final = 2**48 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Namespace:
    """A job or artifact namespace, with when it was first and last seen."""

    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RunState:
    """A run with its first and last sealed event: what Marquez's run state and times come from."""

    run: Run
    started_at: datetime | None
    last_event_at: datetime | None
    last_event_type: str | None


@dataclass(frozen=True, slots=True)
class Job:
    """One job: all runs of a namespace and name; its latest run names its inputs and outputs."""

    namespace: str
    name: str
    created_at: datetime
    latest: RunState
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Dataset:
    """One named artifact: ``versions`` digests, the latest of them, first and last seen."""

    latest: Artifact
    created_at: datetime
    versions: int


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One digest of a dataset, and the run that generated it (if a sealed event says so)."""

    artifact: Artifact
    created_by: RunState | None


@dataclass(frozen=True, slots=True)
class Counted(Generic[T]):
    """Items of one page and how many there are in all, counted up to :data:`COUNT_CAP`."""

    items: tuple[T, ...]
    total: int


# --- namespaces --------------------------------------------------------------------------------


async def namespaces(conn: Conn) -> list[Namespace]:
    """Every job and artifact namespace in name order, at most :data:`MAX_NAMESPACES`.

    Reads every run and artifact row (see the module docstring): namespaces are few, rows many.
    """
    rows = await conn.fetch(
        "SELECT namespace, min(first_seen) AS created, max(first_seen) AS updated FROM ("
        "SELECT job_namespace AS namespace, first_seen FROM runs "
        "UNION ALL SELECT namespace, first_seen FROM artifacts) n "
        "GROUP BY namespace ORDER BY namespace LIMIT $1",
        MAX_NAMESPACES,
    )
    return [Namespace(r["namespace"], r["created"], r["updated"]) for r in rows]


async def namespace(conn: Conn, name: str) -> Namespace | None:
    """One namespace, if a run or an artifact has it (artifacts: a scan, as for :func:`namespaces`)."""
    row = await conn.fetchrow(
        "SELECT min(first_seen) AS created, max(first_seen) AS updated FROM ("
        "SELECT first_seen FROM runs WHERE job_namespace = $1 "
        "UNION ALL SELECT first_seen FROM artifacts WHERE namespace = $1) n",
        name,
    )
    if row is None or row["created"] is None:
        return None
    return Namespace(name, row["created"], row["updated"])


# --- runs and jobs -----------------------------------------------------------------------------

_RUN_STATE = """
SELECT r.run_id, r.parent_run_id, r.job_namespace, r.job_name, r.first_seen,
       f.event_time AS started_at, l.event_time AS last_event_at, l.event_type AS last_event_type
FROM unnest($1::text[]) WITH ORDINALITY AS k(run_id, ord)
JOIN runs r ON r.run_id = k.run_id
LEFT JOIN LATERAL (SELECT e.event_time FROM events e WHERE e.run_id = r.run_id
                   ORDER BY e.event_time LIMIT 1) f ON true
LEFT JOIN LATERAL (SELECT e.event_time, e.event_type FROM events e WHERE e.run_id = r.run_id
                   ORDER BY e.event_time DESC, e.event_id DESC LIMIT 1) l ON true
ORDER BY k.ord
"""


async def run_states(conn: Conn, run_ids: Sequence[str]) -> list[RunState]:
    """The runs named, in that order (unknown ids left out): two ``events_run`` probes each."""
    rows = await conn.fetch(_RUN_STATE, list(run_ids))
    return [
        RunState(Run.from_row(r), r["started_at"], r["last_event_at"], r["last_event_type"]) for r in rows
    ]


async def run_state(conn: Conn, run_id: str) -> RunState | None:
    """One run with its first and last event, or None."""
    found = await run_states(conn, [run_id])
    return found[0] if found else None


# A skip scan: each step is one probe of runs_job_first_seen for the next (namespace, name).
_JOBS = """
WITH RECURSIVE jobs(ns, name) AS (
    (SELECT job_namespace, job_name FROM runs WHERE {where} ORDER BY job_namespace, job_name LIMIT 1)
  UNION ALL
    SELECT n.job_namespace, n.job_name FROM jobs j CROSS JOIN LATERAL (
        SELECT job_namespace, job_name FROM runs
        WHERE {where} AND (job_namespace, job_name) > (j.ns, j.name)
        ORDER BY job_namespace, job_name LIMIT 1) n
)
"""
_ALL_JOBS = _JOBS.format(where="$1::text IS NULL")
_NAMESPACE_JOBS = _JOBS.format(where="job_namespace = $1")


# The jobs whose latest run's last event has one of the types $2: one probe of runs_job_first_seen
# and one of events_run per job, over at most STATE_SCAN jobs.
_JOBS_IN_STATE = """
SELECT j.ns, j.name FROM (SELECT * FROM jobs LIMIT {scan}) j
CROSS JOIN LATERAL (SELECT r.run_id FROM runs r WHERE r.job_namespace = j.ns AND r.job_name = j.name
                    ORDER BY r.first_seen DESC, r.run_id DESC LIMIT 1) latest
CROSS JOIN LATERAL (SELECT e.event_type FROM events e WHERE e.run_id = latest.run_id
                    ORDER BY e.event_time DESC, e.event_id DESC LIMIT 1) last
WHERE last.event_type = ANY($2::text[])
"""


async def list_jobs(
    conn: Conn, namespace: str | None, offset: int, limit: int, last_event_types: Sequence[str] | None = None
) -> Counted[Job]:
    """Jobs (of one namespace, or all) in ``(namespace, name)`` order, and how many (to the cap).

    With ``last_event_types``, only jobs whose latest run's last event has one of those types,
    looked for among the first :data:`STATE_SCAN` jobs (each costs two index probes).
    """
    walk = _NAMESPACE_JOBS if namespace is not None else _ALL_JOBS
    args: list[object]
    if last_event_types is None:
        query, args = walk + "SELECT ns, name FROM jobs", [namespace]
    else:
        query, args = walk + _JOBS_IN_STATE.format(scan=STATE_SCAN), [namespace, list(last_event_types)]
    n = len(args)
    rows = await conn.fetch(f"{query} OFFSET ${n + 1} LIMIT ${n + 2}", *args, offset, limit)
    total = await conn.fetchval(f"SELECT count(*) FROM ({query} LIMIT ${n + 1}) c", *args, COUNT_CAP)
    jobs = [await job(conn, r["ns"], r["name"]) for r in rows]
    return Counted(tuple(j for j in jobs if j is not None), int(total))


async def job(conn: Conn, namespace: str, name: str) -> Job | None:
    """The job ``namespace``/``name`` with its first and latest run, or None if no run has it."""
    row = await conn.fetchrow(
        "SELECT (SELECT first_seen FROM runs WHERE job_namespace = $1 AND job_name = $2 "
        "ORDER BY first_seen, run_id LIMIT 1) AS created, "
        "(SELECT run_id FROM runs WHERE job_namespace = $1 AND job_name = $2 "
        "ORDER BY first_seen DESC, run_id DESC LIMIT 1) AS latest",
        namespace,
        name,
    )
    if row is None or row["latest"] is None:
        return None
    latest = await run_state(conn, row["latest"])
    if latest is None:
        return None
    sides = await conn.fetch(
        "SELECT DISTINCT e.relation, a.namespace, a.name FROM ("
        "SELECT relation, artifact_id FROM lineage_edges "
        "WHERE run_id = $1 AND relation IN ('used', 'generated') "
        "LIMIT $2) e JOIN artifacts a ON a.artifact_id = e.artifact_id ORDER BY 1, 2, 3",
        row["latest"],
        MAX_JOB_DATASETS,
    )
    inputs = tuple((s["namespace"], s["name"]) for s in sides if s["relation"] == "used")
    outputs = tuple((s["namespace"], s["name"]) for s in sides if s["relation"] == "generated")
    return Job(namespace, name, row["created"], latest, inputs, outputs)


async def job_runs(conn: Conn, namespace: str, name: str, offset: int, limit: int) -> Counted[RunState]:
    """The job's runs, newest first, and how many (to the cap)."""
    where = "FROM runs WHERE job_namespace = $1 AND job_name = $2"
    ids = await conn.fetch(
        f"SELECT run_id {where} ORDER BY first_seen DESC, run_id DESC OFFSET $3 LIMIT $4",
        namespace, name, offset, limit,
    )  # fmt: skip
    total = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 {where} LIMIT $3) c", namespace, name, COUNT_CAP
    )
    return Counted(tuple(await run_states(conn, [r["run_id"] for r in ids])), int(total))


async def run_canonical_events(conn: Conn, run_id: str) -> list[bytes]:
    """Canonical bytes of the run's first :data:`MAX_FACET_EVENTS` events, in event-time order."""
    rows = await conn.fetch(
        "SELECT canonical FROM events WHERE run_id = $1 ORDER BY event_time, event_id LIMIT $2",
        run_id,
        MAX_FACET_EVENTS,
    )
    return [bytes(r["canonical"]) for r in rows]


# --- datasets ----------------------------------------------------------------------------------

_DATASET_GROUP = (
    "SELECT name, min(first_seen) AS created, count(*) AS versions, max(artifact_id) AS latest "
    "FROM artifacts WHERE namespace = $1"
)


async def _latest(conn: Conn, groups: Sequence[asyncpg.Record]) -> list[Dataset]:
    rows = await conn.fetch(
        f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE artifact_id = ANY($1::bigint[])",
        [g["latest"] for g in groups],
    )
    latest = {r["artifact_id"]: Artifact.from_row(r) for r in rows}
    return [Dataset(latest[g["latest"]], g["created"], g["versions"]) for g in groups]


async def list_datasets(conn: Conn, namespace: str, offset: int, limit: int) -> Counted[Dataset]:
    """The namespace's datasets in name order, and how many (to the cap): a scan, see the module."""
    groups = await conn.fetch(
        _DATASET_GROUP + " GROUP BY name ORDER BY name OFFSET $2 LIMIT $3", namespace, offset, limit
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM (SELECT DISTINCT name FROM artifacts WHERE namespace = $1 LIMIT $2) c",
        namespace,
        COUNT_CAP,
    )
    return Counted(tuple(await _latest(conn, groups)), int(total))


async def dataset(conn: Conn, namespace: str, name: str) -> Dataset | None:
    """The dataset ``namespace``/``name`` (every digest of that artifact), or None."""
    groups = await conn.fetch(_DATASET_GROUP + " AND name = $2 GROUP BY name", namespace, name)
    found = await _latest(conn, groups)
    return found[0] if found else None


async def dataset_versions(
    conn: Conn, namespace: str, name: str, offset: int, limit: int
) -> Counted[DatasetVersion]:
    """The dataset's digests, newest first, each with the run that generated it; and how many."""
    where = "FROM artifacts WHERE name = $2 AND namespace = $1"
    rows = await conn.fetch(
        f"SELECT {_ARTIFACT_COLUMNS}, (SELECT e.run_id FROM lineage_edges e "
        "WHERE e.artifact_id = a.artifact_id "
        "AND e.relation = 'generated' ORDER BY e.recorded_at LIMIT 1) AS created_by "
        f"FROM (SELECT * {where} ORDER BY artifact_id DESC OFFSET $3 LIMIT $4) a ORDER BY artifact_id DESC",
        namespace, name, offset, limit,
    )  # fmt: skip
    total = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 {where} LIMIT $3) c", namespace, name, COUNT_CAP
    )
    runs = {
        s.run.run_id: s for s in await run_states(conn, [r["created_by"] for r in rows if r["created_by"]])
    }
    versions = [DatasetVersion(Artifact.from_row(r), runs.get(r["created_by"])) for r in rows]
    return Counted(tuple(versions), int(total))


# --- sealed events -----------------------------------------------------------------------------


def uuid7_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of ``moment``'s millisecond (clamped to what a UUIDv7 can hold).

    SPEC (RFC 9562 section 5.7): "unix_ts_ms: 48-bit big-endian unsigned number of the Unix
    Epoch timestamp in milliseconds"; the id's first 6 bytes, so ids sort by it bytewise, as
    Postgres compares ``uuid`` values.
    """
    millis = min(max((moment - _EPOCH) // timedelta(milliseconds=1), 0), _UUID7_MAX_MS)
    return uuid.UUID(bytes=millis.to_bytes(6, "big") + bytes(10))


async def sealed_events(
    conn: Conn,
    after: datetime,
    before: datetime,
    *,
    newest_first: bool,
    offset: int,
    limit: int,
    max_bytes: int,
) -> tuple[Counted[bytes], bool]:
    """Canonical bytes of events whose id time lies in ``[after, before)``, how many (to the cap),
    and whether the page stopped short at ``max_bytes`` (it always holds at least one event).

    By the primary key: ``event_id`` order is id-time order (ties by the id's random bits).
    """
    low, high = uuid7_floor(after), uuid7_floor(before)
    order = "DESC" if newest_first else ""
    # Bytes of the page's events before each one: those past max_bytes come back as NULL, so a
    # page of 1 MiB RunEvents costs the budget, not limit MiB.
    rows = await conn.fetch(
        "SELECT CASE WHEN before_bytes = 0 OR before_bytes + length(canonical) <= $5 THEN canonical END "
        "AS canonical FROM ("
        f"SELECT event_id, canonical, sum(length(canonical)) OVER (ORDER BY event_id {order}) "
        "- length(canonical) AS before_bytes FROM ("
        "SELECT event_id, canonical FROM events WHERE event_id >= $1 AND event_id < $2 "
        f"ORDER BY event_id {order} OFFSET $3 LIMIT $4) p) w ORDER BY event_id {order}",
        low, high, offset, limit, max_bytes,
    )  # fmt: skip
    total = await conn.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM events WHERE event_id >= $1 AND event_id < $2 LIMIT $3) c",
        low,
        high,
        COUNT_CAP,
    )
    events = tuple(bytes(r["canonical"]) for r in rows if r["canonical"] is not None)
    return Counted(events, int(total)), len(events) < len(rows)
