"""The witness's SQLite state: compare-and-set, durability settings, and a file that refuses to go back."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from provledger.errors import ConfigurationError
from provledger.witness import sqlite as witness_sqlite
from provledger.witness.service import Conflict, Cosigned
from provledger.witness.sqlite import SqliteWitnessStore

ORIGIN = "ledger.test/log"


def _cosigned(size: int, root: bytes = b"\x01" * 32, at: int = 1) -> Cosigned:
    return Cosigned(ORIGIN, size, root, f"note {size}\n", at)


async def test_compare_and_set_from_nothing_and_from_a_size(tmp_path: Path) -> None:
    store = await SqliteWitnessStore.open(tmp_path / "state" / "w.sqlite3")
    try:
        assert await store.latest(ORIGIN) is None
        assert await store.advance(None, _cosigned(3))
        assert not await store.advance(None, _cosigned(4))  # someone else created it first
        assert await store.latest(ORIGIN) == _cosigned(3)
        assert not await store.advance(_cosigned(3, root=b"\x02" * 32), _cosigned(5))  # another root
        assert not await store.advance(_cosigned(2), _cosigned(5))  # another size
        assert await store.advance(_cosigned(3), _cosigned(5, at=2))
        assert await store.latest(ORIGIN) == _cosigned(5, at=2)
    finally:
        await store.close()
    # Durable across a reopen, in WAL mode with fsync on every commit.
    again = await SqliteWitnessStore.open(tmp_path / "state" / "w.sqlite3")
    try:
        assert await again.latest(ORIGIN) == _cosigned(5, at=2)
    finally:
        await again.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "state" / "w.sqlite3")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_the_file_itself_refuses_to_go_back_or_forget(tmp_path: Path) -> None:
    store = await SqliteWitnessStore.open(tmp_path / "w.sqlite3")
    assert await store.advance(None, _cosigned(5))
    await store.close()
    conn = sqlite3.connect(tmp_path / "w.sqlite3", isolation_level=None)
    try:
        for sql in (
            "UPDATE checkpoints SET size = 4",
            "UPDATE checkpoints SET root = zeroblob(32)",
            "UPDATE checkpoints SET origin = 'other'",
            "DELETE FROM checkpoints",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="never"):
                conn.execute(sql)
        conn.execute("UPDATE checkpoints SET size = 6")  # forward is fine
    finally:
        conn.close()


async def test_conflicts_are_kept_up_to_a_bound_per_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(witness_sqlite, "MAX_CONFLICTS_PER_LOG", 2)
    store = await SqliteWitnessStore.open(tmp_path / "w.sqlite3")
    try:
        conflicts = [
            Conflict(ORIGIN, 10 + i, f"reason {i}", 5, (bytes([i]) * 32, b"\xff" * 32), f"new {i}\n", "old\n")
            for i in range(3)
        ]
        for conflict in conflicts:
            await store.record_conflict(conflict)
        await store.record_conflict(Conflict("other", 1, "r", 0, (), "n\n", None))
        assert await store.conflicts(ORIGIN) == conflicts[:2]
        assert await store.conflicts("other") == [Conflict("other", 1, "r", 0, (), "n\n", None)]
    finally:
        await store.close()


async def test_a_file_that_is_not_a_witness_state_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigurationError, match="not a usable witness state file"):
        await SqliteWitnessStore.open(junk)
    newer = tmp_path / "newer.sqlite3"
    with contextlib.closing(sqlite3.connect(newer)) as conn:
        conn.execute("PRAGMA user_version = 99")
        conn.commit()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        await SqliteWitnessStore.open(newer)
