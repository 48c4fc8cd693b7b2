"""The witness's state in Postgres, for a participant who already runs one (``..._WITNESS_DATABASE_URL``).

The same state and guarantees as :mod:`provledger.witness.sqlite`, table for table: the
latest cosigned checkpoint per log and the conflicts, in a schema of the witness's own
(``provledger_witness``), so it can share a database (even the ledger's) without touching
another table. A witness's database is not the ledger's: ``provledger migrate`` does not
know this schema; the witness creates it on first start and records its version in
``provledger_witness.schema_version``, under a transaction-scoped advisory lock, so two
witnesses starting together create it once.

The state guards itself, whatever process or person writes it: triggers refuse any update
that shrinks a log's size, changes its root at the same size or renames it, and any delete or
truncate of the checkpoints; the conflicts (evidence of a misbehaving log) refuse update,
delete and truncate too. :meth:`PostgresWitnessStore.advance` is a compare-and-set: an
``UPDATE ... WHERE size = old AND root = old``, whose row lock makes a second writer wait,
re-read the row and match nothing, so two processes on one database cosign a size once.
Every session sets ``synchronous_commit = on`` (whatever the server's default), so a commit
is on the server's disk when ``advance`` returns.

Errors meaning "Postgres is away" (:mod:`provledger.store.unavailable` decides which) become
:class:`ServiceUnavailable` naming what to check; the app answers 503 with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import asyncpg

from provledger.errors import ConfigurationError, ServiceUnavailable
from provledger.store.db import Conn
from provledger.store.unavailable import advice, is_unavailable, sqlstate_class
from provledger.witness.service import Conflict, Cosigned
from provledger.witness.settings import WitnessDatabase

SCHEMA: Final = "provledger_witness"
SCHEMA_VERSION: Final = 1
#: Conflicts kept per log: the first ones are the evidence; a log that keeps forking adds nothing.
#: Approximate under concurrent inserts for one log (each counts before it inserts).
MAX_CONFLICTS_PER_LOG: Final = 1000
#: Connections per witness process: requests for one log are serialised anyway, so a few suffice.
POOL_MAX_SIZE: Final = 4
#: Seconds to open a connection, and to wait for any query: past them Postgres counts as away.
CONNECT_TIMEOUT_S: Final = 5.0
QUERY_TIMEOUT_S: Final = 5.0
_SETTING: Final = "PROVLEDGER_WITNESS_DATABASE_URL"

_DDL: Final = f"""
CREATE TABLE {SCHEMA}.checkpoints (
    origin      text PRIMARY KEY,
    size        bigint NOT NULL CHECK (size >= 0),
    root        bytea NOT NULL CHECK (octet_length(root) = 32),
    note        text NOT NULL,
    cosigned_at bigint NOT NULL CHECK (cosigned_at > 0)
);
CREATE FUNCTION {SCHEMA}.checkpoints_only_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'a witness never forgets a log' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.origin IS DISTINCT FROM OLD.origin OR NEW.size < OLD.size
       OR (NEW.size = OLD.size AND NEW.root IS DISTINCT FROM OLD.root) THEN
        RAISE EXCEPTION 'a witness never goes backwards' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER checkpoints_only_forward BEFORE UPDATE OR DELETE ON {SCHEMA}.checkpoints
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.checkpoints_only_forward();
CREATE TRIGGER checkpoints_kept BEFORE TRUNCATE ON {SCHEMA}.checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.checkpoints_only_forward();
CREATE TABLE {SCHEMA}.conflicts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin         text NOT NULL,
    received_at    bigint NOT NULL,
    reason         text NOT NULL,
    old_size       bigint NOT NULL,
    proof          bytea[] NOT NULL,
    submitted_note text NOT NULL,
    latest_note    text
);
CREATE INDEX conflicts_by_origin ON {SCHEMA}.conflicts (origin, id);
CREATE FUNCTION {SCHEMA}.conflicts_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a witness never forgets the evidence of a conflict'
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER conflicts_kept BEFORE UPDATE OR DELETE ON {SCHEMA}.conflicts
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.conflicts_kept();
CREATE TRIGGER conflicts_kept_whole BEFORE TRUNCATE ON {SCHEMA}.conflicts
    FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.conflicts_kept();
"""

_LATEST: Final = f"SELECT origin, size, root, note, cosigned_at FROM {SCHEMA}.checkpoints WHERE origin = $1"
_INSERT: Final = (
    f"INSERT INTO {SCHEMA}.checkpoints (origin, size, root, note, cosigned_at) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (origin) DO NOTHING RETURNING 1"
)
_ADVANCE: Final = (
    f"UPDATE {SCHEMA}.checkpoints SET size = $1, root = $2, note = $3, cosigned_at = $4 "
    "WHERE origin = $5 AND size = $6 AND root = $7 RETURNING 1"
)
_CONFLICT: Final = (
    f"INSERT INTO {SCHEMA}.conflicts (origin, received_at, reason, old_size, proof, submitted_note, "
    f"latest_note) SELECT $1, $2, $3, $4, $5, $6, $7 "
    f"WHERE (SELECT count(*) FROM {SCHEMA}.conflicts WHERE origin = $1) < $8"
)
_CONFLICTS: Final = (
    "SELECT origin, received_at, reason, old_size, proof, submitted_note, latest_note "
    f"FROM {SCHEMA}.conflicts WHERE origin = $1 ORDER BY id"
)


def _advice(exc: BaseException) -> str:
    """The store adapter's advice, naming the witness's setting rather than the ledger's."""
    if isinstance(exc, asyncpg.PostgresError) and sqlstate_class(exc) == "3D":
        return f"the database does not exist: create it, or fix its name in {_SETTING}"
    return advice(exc).replace("PROVLEDGER_DATABASE_URL", _SETTING)


@contextmanager
def _unavailable(failed: str) -> Iterator[None]:
    """Re-raise an error meaning "Postgres is away" as :class:`ServiceUnavailable`, saying what to check."""
    try:
        yield
    except ServiceUnavailable:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise ServiceUnavailable(f"{failed}: {_advice(exc)} ({type(exc).__name__}: {exc})") from exc


class PostgresWitnessStore:
    """A :class:`~provledger.witness.service.WitnessStore` in Postgres; open with :meth:`open`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, database: WitnessDatabase) -> PostgresWitnessStore:
        """Connect, and create or check the witness's schema (:class:`ConfigurationError` if unusable)."""
        with _unavailable("cannot connect to the witness database"):
            pool = await asyncpg.create_pool(
                database.dsn,
                password=database.password,
                min_size=1,
                max_size=POOL_MAX_SIZE,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=QUERY_TIMEOUT_S,
                # A commit MUST be durable on return (WitnessStore.advance), whatever the server's
                # default; and a statement the server cannot finish is an outage, not a hang.
                server_settings={
                    "synchronous_commit": "on",
                    "statement_timeout": str(int(QUERY_TIMEOUT_S * 1000)),
                    "application_name": "provledger-witness",
                },
            )
        assert pool is not None
        try:
            async with pool.acquire() as conn:
                await _create_schema(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        """Close the connections."""
        await self._pool.close()

    async def latest(self, origin: str) -> Cosigned | None:
        with _unavailable("cannot read the witness database"):
            row = await self._pool.fetchrow(_LATEST, origin)
        return None if row is None else Cosigned(row[0], row[1], bytes(row[2]), row[3], row[4])

    async def advance(self, previous: Cosigned | None, new: Cosigned) -> bool:
        values: tuple[object, ...]
        if previous is None:
            sql, values = _INSERT, (new.origin, new.size, new.root, new.note, new.cosigned_at)
        else:
            values = (new.size, new.root, new.note, new.cosigned_at, new.origin, previous.size, previous.root)
            sql = _ADVANCE
        with _unavailable("cannot write the witness database"):
            done: int | None = await self._pool.fetchval(sql, *values)
        return done == 1

    async def record_conflict(self, conflict: Conflict) -> None:
        with _unavailable("cannot write the witness database"):
            await self._pool.execute(
                _CONFLICT,
                conflict.origin,
                conflict.received_at,
                conflict.reason,
                conflict.old_size,
                list(conflict.proof),
                conflict.submitted_note,
                conflict.latest_note,
                MAX_CONFLICTS_PER_LOG,
            )

    async def conflicts(self, origin: str) -> list[Conflict]:
        """The conflicts kept for ``origin``, oldest first (for operators and tests)."""
        with _unavailable("cannot read the witness database"):
            rows = await self._pool.fetch(_CONFLICTS, origin)
        return [Conflict(r[0], r[1], r[2], r[3], tuple(bytes(p) for p in r[4]), r[5], r[6]) for r in rows]


async def _create_schema(conn: Conn) -> None:
    """Create the witness's schema at version 1 if absent; refuse a newer one (one writer at a time)."""
    try:
        with _unavailable("cannot prepare the witness database"):
            async with conn.transaction():
                # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogs: serialise.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{SCHEMA} schema")
                if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", SCHEMA) is None:
                    await conn.execute(f"CREATE SCHEMA {SCHEMA}")
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version integer NOT NULL)"
                )
                version = await conn.fetchval(f"SELECT max(version) FROM {SCHEMA}.schema_version")
                if version is None:
                    await conn.execute(_DDL)
                    await conn.execute(
                        f"INSERT INTO {SCHEMA}.schema_version (version) VALUES ($1)", SCHEMA_VERSION
                    )
                elif version > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"the witness schema {SCHEMA} has version {version}, newer than this provledger's "
                        f"{SCHEMA_VERSION}: run a newer provledger"
                    )
    except asyncpg.PostgresError as exc:
        raise ConfigurationError(
            f"cannot create or read the witness schema {SCHEMA} in {_SETTING}'s database: {exc} "
            f"(SQLSTATE {exc.sqlstate}). Its role needs CREATE on the database, or the schema made for it"
        ) from exc
