"""Artifact ids for a block's lineage edges: remembered once committed, COPYed when new.

An edge names its artifact by ``artifact_id``, so a block must know the id of every artifact
its events name. Asking Postgres with an upsert (``INSERT ... ON CONFLICT DO NOTHING
RETURNING``, then reading back those that existed) was the largest part of the sealer's
Postgres time when each event has a new output, as inference events do: 35-43 us per artifact,
where a COPY of the same row with its id takes 15-20. For 50,000 benchmark-shaped events
written through :func:`~provledger.store.blocks.write_block`, each way twice in turn so both
met the same machine, Postgres backend CPU per event went from 57 and 52 us to 47 and 30, and
wall time from 93 and 88 us to 73 and 47.

So the writer takes the cheap path whenever it is right, and falls back when it is not:

* an artifact row is never changed or deleted (the append-only triggers), so an id once
  committed stays right: :class:`ArtifactIds` remembers the ids of this process's commits
  (a bounded map; the datasets and models many events name stay in it);
* the others are COPYed with ids drawn from the column's identity sequence, in a savepoint;
* if one of them exists after all (another sealer wrote it, or this process never saw it) the
  COPY fails on the unique key, the savepoint undoes it, and the upsert decides. Drawn ids
  are then skipped, which an identity column allows: ids are unique, not dense.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

import asyncpg

from provledger.events.rows import ArtifactKey
from provledger.store.db import Conn

#: The artifacts' unique key: namespace, name, digest.
Key = tuple[str, str, str]

#: Ids remembered per process: a few MiB, far more than the artifacts a workload names again.
DEFAULT_CAPACITY = 20_000

_UNIQUE_KEY = "artifacts_digest_namespace_name_key"
_COLUMNS = ["artifact_id", "namespace", "name", "digest", "kind", "version", "first_seen"]


class ArtifactIds:
    """Committed artifact ids by key; beyond ``capacity``, those no block used for longest are forgotten.

    Recency is by use, not by first sight: the dataset every block names stays, however many
    one-off outputs come and go after it.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._ids: dict[Key, int] = {}

    def lookup(self, keys: AbstractSet[Key]) -> dict[Key, int]:
        """The remembered ids of ``keys`` (a set operation: no Python loop over new artifacts)."""
        return {key: self._ids[key] for key in self._ids.keys() & keys}

    def clear(self) -> None:
        """Forget everything: after losing the connection, a commit seen may not have survived.

        A failover to an asynchronous standby, a restore, or a crash under
        ``synchronous_commit=off`` can lose an acknowledged commit, and with it the sequence
        values its artifacts took, which new artifacts would then be given.
        """
        self._ids.clear()

    def learn(self, ids: dict[Key, int]) -> None:
        """Remember the ids a committed block used: never those of a transaction that may roll back."""
        for key in self._ids.keys() & ids.keys():
            del self._ids[key]  # re-inserted last: the most recently used
        self._ids.update(ids)
        for key in list(itertools.islice(self._ids, max(0, len(self._ids) - self._capacity))):
            del self._ids[key]


async def artifact_ids(
    conn: Conn, artifacts: Sequence[ArtifactKey], known: ArtifactIds, first_seen: datetime
) -> dict[Key, int]:
    """The id of every artifact named, by key, inserting those Postgres does not hold yet.

    One row per unique key: the first spelling of an artifact's kind and version wins, as it
    does in the table (two spellings of one key in a COPY would conflict with each other).
    Runs inside the caller's transaction; the caller hands the answer to
    :meth:`ArtifactIds.learn` once that transaction has committed.
    """
    named = {artifact[:3]: artifact for artifact in reversed(artifacts)}  # the first spelling last
    ids = known.lookup(named.keys())
    unknown = list(named.keys() - ids.keys())
    if unknown:
        # One order for every writer: two blocks inserting the same new artifacts in opposite
        # orders would wait on each other's unique-index entries (a deadlock). The key's order,
        # so a block's new artifacts take ids (and lineage lists them) by namespace and name.
        unknown.sort()
        new = [named[key] for key in unknown]
        try:
            ids.update(zip(unknown, await _draw_and_copy(conn, new, first_seen), strict=True))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _UNIQUE_KEY:
                raise
            ids.update(await _upsert(conn, new, first_seen))
    return ids


async def _draw_and_copy(conn: Conn, artifacts: list[ArtifactKey], first_seen: datetime) -> list[int]:
    """COPY new artifacts with ids drawn from their sequence; the ids, in the artifacts' order."""
    drawn: list[int] = await conn.fetchval(
        "SELECT array_agg(nextval('artifacts_artifact_id_seq')) FROM generate_series(1, $1)", len(artifacts)
    )
    async with conn.transaction():  # a savepoint: a conflict undoes this COPY, not the block
        await conn.copy_records_to_table(
            "artifacts",
            columns=_COLUMNS,
            records=[(i, *a, first_seen) for i, a in zip(drawn, artifacts, strict=True)],
        )
    return drawn


async def _upsert(conn: Conn, artifacts: list[ArtifactKey], first_seen: datetime) -> dict[Key, int]:
    """Insert what is missing and read back what existed: right whoever wrote what, and when."""
    created = await conn.fetch(
        "INSERT INTO artifacts (namespace, name, digest, kind, version, first_seen) "
        "SELECT ns, n, d, k, v, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
        "AS a(ns, n, d, k, v) ON CONFLICT (namespace, name, digest) DO NOTHING "
        "RETURNING artifact_id, namespace, name, digest",
        *_key_columns(artifacts),
        [a.kind for a in artifacts],
        [a.version for a in artifacts],
        first_seen,
    )
    ids = _by_key(created)
    existing = [a for a in artifacts if a[:3] not in ids]
    if existing:
        rows = await conn.fetch(
            "SELECT a.artifact_id, a.namespace, a.name, a.digest FROM artifacts a "
            "JOIN unnest($1::text[], $2::text[], $3::text[]) AS w(ns, n, d) "
            "ON a.namespace = w.ns AND a.name = w.n AND a.digest = w.d",
            *_key_columns(existing),
        )
        ids.update(_by_key(rows))
    return ids


def _by_key(rows: list[asyncpg.Record]) -> dict[Key, int]:
    return {(r["namespace"], r["name"], r["digest"]): r["artifact_id"] for r in rows}


def _key_columns(artifacts: list[ArtifactKey]) -> tuple[list[str], list[str], list[str]]:
    """Namespaces, names and digests as three arrays: the artifacts' unique key, for unnest()."""
    return [a.namespace for a in artifacts], [a.name for a in artifacts], [a.digest for a in artifacts]
