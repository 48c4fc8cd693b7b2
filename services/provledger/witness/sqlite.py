"""The witness's state in one SQLite file: the latest cosigned checkpoint per log, and conflicts.

One file and one key are a whole witness. Every call runs on one thread of its own (SQLite
connections belong to a thread), so the event loop never waits on the disk. Writes are
durable when they return: WAL journal with ``synchronous=FULL`` (an fsync of the WAL on every
commit; the NORMAL level would lose the last commits on power loss, and a witness that forgot
what it cosigned could be made to cosign a fork). The state guards itself too, whatever
process writes it: a trigger refuses any update that shrinks a log's size, changes its root at
the same size or renames it, and any delete.

Postgres as a witness store is not built: SQLite in a file covers one witness process, and
several processes sharing one file are still safe (the compare-and-set below).
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from provledger.errors import ConfigurationError, ServiceUnavailable
from provledger.witness.service import Conflict, Cosigned

#: Conflicts kept per log: the first ones are the evidence; a log that keeps forking adds nothing.
MAX_CONFLICTS_PER_LOG: Final = 1000
SCHEMA_VERSION: Final = 1
_BUSY_TIMEOUT_MS: Final = 5000

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS checkpoints (
    origin      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL CHECK (size >= 0),
    root        BLOB NOT NULL CHECK (length(root) = 32),
    note        TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL CHECK (cosigned_at > 0)
) STRICT;
CREATE TRIGGER IF NOT EXISTS checkpoints_only_forward BEFORE UPDATE ON checkpoints
WHEN NEW.origin IS NOT OLD.origin OR NEW.size < OLD.size OR (NEW.size = OLD.size AND NEW.root IS NOT OLD.root)
BEGIN SELECT RAISE(ABORT, 'a witness never goes backwards'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_kept BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'a witness never forgets a log'); END;
CREATE TABLE IF NOT EXISTS conflicts (
    id             INTEGER PRIMARY KEY,
    origin         TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    old_size       INTEGER NOT NULL,
    proof          TEXT NOT NULL,
    submitted_note TEXT NOT NULL,
    latest_note    TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS conflicts_by_origin ON conflicts (origin, id);
PRAGMA user_version = {SCHEMA_VERSION};
"""

_LATEST: Final = "SELECT origin, size, root, note, cosigned_at FROM checkpoints WHERE origin = ?"
_INSERT: Final = (
    "INSERT INTO checkpoints (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (origin) DO NOTHING"
)
_ADVANCE: Final = (
    "UPDATE checkpoints SET size = ?, root = ?, note = ?, cosigned_at = ? "
    "WHERE origin = ? AND size = ? AND root = ?"
)
_CONFLICT: Final = (
    "INSERT INTO conflicts (origin, received_at, reason, old_size, proof, submitted_note, latest_note) "
    "SELECT ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM conflicts WHERE origin = ?) < ?"
)

T = TypeVar("T")


class SqliteWitnessStore:
    """A :class:`~provledger.witness.service.WitnessStore` in one SQLite file; open with :meth:`open`."""

    def __init__(self, path: Path, executor: ThreadPoolExecutor, connection: sqlite3.Connection) -> None:
        self.path = path
        self._executor = executor
        self._connection = connection

    @classmethod
    async def open(cls, path: Path) -> SqliteWitnessStore:
        """Open (or create) the state file, in WAL mode with durable commits."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="witness-sqlite")
        try:
            connection = await asyncio.get_running_loop().run_in_executor(executor, _connect, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(path, executor, connection)

    async def close(self) -> None:
        """Close the file and its thread."""
        await self._run(self._connection.close)
        self._executor.shutdown(wait=True)

    async def _run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except sqlite3.Error as exc:
            raise ServiceUnavailable(f"the witness state file {str(self.path)!r} failed: {exc}") from exc

    async def latest(self, origin: str) -> Cosigned | None:
        row = await self._run(lambda: self._connection.execute(_LATEST, (origin,)).fetchone())
        return None if row is None else Cosigned(row[0], row[1], row[2], row[3], row[4])

    async def advance(self, previous: Cosigned | None, new: Cosigned) -> bool:
        if previous is None:
            values: tuple[object, ...] = (new.origin, new.size, new.root, new.note, new.cosigned_at)
            sql = _INSERT
        else:
            values = (new.size, new.root, new.note, new.cosigned_at, new.origin, previous.size, previous.root)
            sql = _ADVANCE
        rows = await self._run(lambda: self._connection.execute(sql, values).rowcount)
        return rows == 1

    async def record_conflict(self, conflict: Conflict) -> None:
        proof = "".join(base64.b64encode(node).decode() + "\n" for node in conflict.proof)
        values = (
            conflict.origin,
            conflict.received_at,
            conflict.reason,
            conflict.old_size,
            proof,
            conflict.submitted_note,
            conflict.latest_note,
            conflict.origin,
            MAX_CONFLICTS_PER_LOG,
        )
        await self._run(lambda: self._connection.execute(_CONFLICT, values))

    async def conflicts(self, origin: str) -> list[Conflict]:
        """The conflicts kept for ``origin``, oldest first (for operators and tests)."""
        sql = (
            "SELECT origin, received_at, reason, old_size, proof, submitted_note, latest_note "
            "FROM conflicts WHERE origin = ? ORDER BY id"
        )
        rows = await self._run(lambda: self._connection.execute(sql, (origin,)).fetchall())
        return [
            Conflict(r[0], r[1], r[2], r[3], tuple(base64.b64decode(p) for p in r[4].split()), r[5], r[6])
            for r in rows
        ]


def _connect(path: Path) -> sqlite3.Connection:
    """The connection, on the store's thread: autocommit (each statement its own transaction)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigurationError(f"cannot open the witness state file {str(path)!r}: {exc}") from exc
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"the witness state file {str(path)!r} has schema version {version}, newer than this "
                f"provledger's {SCHEMA_VERSION}: run a newer provledger"
            )
        if connection.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise ConfigurationError(f"the witness state file {str(path)!r} cannot be put in WAL mode")
        connection.execute("PRAGMA synchronous = FULL")
        connection.executescript(_SCHEMA)
    except sqlite3.Error as exc:
        connection.close()
        raise ConfigurationError(
            f"{str(path)!r} is not a usable witness state file: {exc}. Point PROVLEDGER_WITNESS_STATE_FILE "
            "at the witness's own file (it is created if missing)"
        ) from exc
    except ConfigurationError:
        connection.close()
        raise
    return connection
