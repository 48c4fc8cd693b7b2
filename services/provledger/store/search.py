"""Search the ledger's names and ids: what the explorer page's search box and Marquez's ``/search`` ask.

One query text ``q`` is matched five ways, each by an index where one serves:

* artifact **names** by prefix: a range of the ``artifacts_name`` index ``(name, artifact_id)``
  (names compare as bytes, ``COLLATE "C"``, so ``[q, q || U+10FFFF)`` is exactly the names
  starting with ``q``); one result per distinct name and namespace, its newest version;
* artifact **names** by substring, case-insensitively: no index can serve it (``pg_trgm`` is not
  installed, and no migration adds it), so it reads at most :data:`SUBSTRING_SCAN` artifacts,
  the newest first, by the primary key. An older artifact whose name only *contains* ``q`` is
  found by prefix or not at all: the answer then says ``truncated``;
* artifact **digests** by prefix (``sha256:`` optional, lowercase hex): a range of the unique
  index that leads with the digest;
* **run ids** by prefix: a range of the runs' primary key;
* **job names** by substring, case-insensitively: a skip scan of the ``runs_job_first_seen``
  index, one probe per distinct job, at most :data:`JOB_SCAN` jobs.

Every branch has a ``LIMIT``; the whole search costs a few index ranges and two bounded scans
whatever the ledger's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from provledger.store.db import Conn

#: Longest query text (names are at most 1,024 bytes; a search of more is a mistake or an attack).
MAX_QUERY_CHARS: Final = 256
#: Newest artifacts a substring search reads, and distinct jobs it walks.
SUBSTRING_SCAN: Final = 50_000
JOB_SCAN: Final = 10_000
#: Versions of one name looked at for its namespaces (the newest).
_VERSIONS_PER_NAME: Final = 1000
#: The largest code point: ``q || U+10FFFF`` sorts after every name starting with ``q``.
_LAST: Final = "\U0010ffff"
_HEX_PREFIX = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")
_RUN_PREFIX = re.compile(r"[0-9a-f-]{1,36}")

HitType = Literal["artifact", "run", "job"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One match: an artifact (its newest version by that name), a run, or a job."""

    type: HitType
    id: str
    namespace: str
    name: str
    kind: str | None
    digest: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Found:
    """The matches, in the order of the list in the module docstring, and whether more exist."""

    hits: tuple[Hit, ...]
    truncated: bool


_ARTIFACT_HIT = "SELECT artifact_id::text AS id, namespace, name, kind, digest, first_seen AS at"

_NAME_PREFIX = f"""
WITH RECURSIVE names(name) AS (
    (SELECT name FROM artifacts WHERE name >= $1 AND name < $2 ORDER BY name LIMIT 1)
  UNION ALL
    SELECT (SELECT a.name FROM artifacts a WHERE a.name > n.name AND a.name < $2 ORDER BY a.name LIMIT 1)
    FROM names n WHERE n.name IS NOT NULL
)
SELECT h.* FROM (SELECT name FROM names WHERE name IS NOT NULL LIMIT $3) n
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (namespace) artifact_id::text AS id, namespace, name, kind, digest, first_seen AS at
    FROM (SELECT * FROM artifacts a WHERE a.name = n.name
          ORDER BY artifact_id DESC LIMIT {_VERSIONS_PER_NAME}) v
    ORDER BY namespace, artifact_id DESC
) h
ORDER BY h.name, h.namespace
"""

_NAME_SUBSTRING = f"""
SELECT DISTINCT ON (name, namespace) artifact_id::text AS id, namespace, name, kind, digest, first_seen AS at
FROM (SELECT * FROM artifacts ORDER BY artifact_id DESC LIMIT {SUBSTRING_SCAN}) a
WHERE strpos(lower(name), lower($1)) > 0 AND NOT (name >= $1 AND name < $2)
ORDER BY name, namespace, artifact_id DESC LIMIT $3
"""

_DIGEST_PREFIX = f"""
{_ARTIFACT_HIT} FROM artifacts WHERE digest >= $1 AND digest < $2 ORDER BY digest, namespace, name LIMIT $3
"""

_RUN = """
SELECT run_id AS id, job_namespace AS namespace, job_name AS name, NULL AS kind, NULL AS digest,
       first_seen AS at
FROM runs WHERE run_id >= $1 AND run_id < $2 ORDER BY run_id LIMIT $3
"""

_JOB = f"""
WITH RECURSIVE jobs(ns, name, step) AS (
    (SELECT job_namespace, job_name, 1 FROM runs ORDER BY job_namespace, job_name LIMIT 1)
  UNION ALL
    SELECT n.job_namespace, n.job_name, j.step + 1 FROM jobs j CROSS JOIN LATERAL (
        SELECT job_namespace, job_name FROM runs WHERE (job_namespace, job_name) > (j.ns, j.name)
        ORDER BY job_namespace, job_name LIMIT 1) n
    WHERE j.step < {JOB_SCAN}
)
SELECT j.name AS id, j.ns AS namespace, j.name, NULL AS kind, NULL AS digest,
       (SELECT r.first_seen FROM runs r WHERE r.job_namespace = j.ns AND r.job_name = j.name
        ORDER BY r.first_seen DESC LIMIT 1) AS at,
       (SELECT count(*) FROM jobs) > {JOB_SCAN - 1} AS cut
FROM jobs j WHERE strpos(lower(j.name), lower($1)) > 0 ORDER BY j.ns, j.name LIMIT $2
"""


async def search(conn: Conn, q: str, limit: int, types: frozenset[HitType]) -> Found:
    """Matches of ``q`` of the ``types`` asked for, at most ``limit``; ``truncated`` if there may be more.

    ``q`` must be 1 to :data:`MAX_QUERY_CHARS` characters without NUL (the caller checks).
    """
    hits: list[Hit] = []
    truncated = False

    async def add(kind: HitType, sql: str, *args: object) -> None:
        nonlocal truncated
        want = limit - len(hits)
        if want <= 0:
            truncated = True
            return
        rows = await conn.fetch(sql, *args, want + 1)
        seen = {(h.type, h.id) for h in hits}
        fresh = [r for r in rows if (kind, r["id"]) not in seen]
        truncated = truncated or len(fresh) > want or any(r.get("cut") for r in rows)
        hits.extend(
            Hit(kind, r["id"], r["namespace"], r["name"], r["kind"], r["digest"], r["at"])
            for r in fresh[:want]
        )

    upper = q + _LAST
    if "run" in types and _RUN_PREFIX.fullmatch(q):
        await add("run", _RUN, q, upper)
    digest = _HEX_PREFIX.fullmatch(q)
    if "artifact" in types and digest is not None:
        prefix = "sha256:" + digest.group(1)
        await add("artifact", _DIGEST_PREFIX, prefix, prefix + _LAST)
    if "artifact" in types:
        await add("artifact", _NAME_PREFIX, q, upper)
        await add("artifact", _NAME_SUBSTRING, q, upper)
        truncated = truncated or await _substring_scan_cut(conn)
    if "job" in types:
        await add("job", _JOB, q)
    return Found(tuple(hits), truncated)


async def _substring_scan_cut(conn: Conn) -> bool:
    """Whether artifacts older than the substring scan's window exist (so it may have missed some)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM artifacts ORDER BY artifact_id DESC OFFSET $1 LIMIT 1)",
            SUBSTRING_SCAN,
        )
    )
