"""Read shard checkpoints with the witness cosignatures stored for them (``checkpoint_cosignatures``).

The anchorer's witness client stores each cosignature line exactly as the witness returned it,
one row per checkpoint ``(shard, tree_size)`` and witness key. Appending a checkpoint's stored
lines to its note (:meth:`WitnessedCheckpoint.cosigned_note`) gives the cosigned checkpoint a
C2SP tlog client verifies: SPEC C2SP signed-note, "Verifiers MUST ignore signatures from
unknown keys", so a client that knows no witness still reads it, and one that knows the
witnesses' keys can require their cosignatures.

Reads are index probes: the newest checkpoint is one of ``shard_checkpoints``'s primary key, the
cosigned one covering a size one per witness key (:func:`covering_cosigned`); audit streams every
row from a cursor in ``(witness_key, shard, tree_size)`` order, a page at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

from provledger.errors import VerificationError
from provledger.ledger.cosignature import CosignatureVerifier, cosignature_timestamp
from provledger.ledger.note import EM_DASH, parse_note
from provledger.store.db import Conn

#: Cosignature rows fetched per round trip by :func:`stream_cosignatures`.
COSIGNATURE_PAGE: Final = 500


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    """A shard checkpoint note (signed by the sealer) and the cosignature lines stored for it.

    ``lines`` are those that verify under the witness key their row names, sorted by that key, so
    the same rows always give the same bytes.
    """

    shard: int
    height: int
    tree_size: int
    note: str
    lines: tuple[str, ...]

    def cosigned_note(self) -> str:
        """The note with the cosignature lines after its own signatures: still one C2SP signed note.

        SPEC: C2SP signed-note: a note is the text, a blank line, then "one or more signature
        lines"; a cosignature "is a note signature applied to a checkpoint" (C2SP
        tlog-cosignature), so the lines join the sealer's signature line at the end.
        """
        body = self.note if self.note.endswith("\n") else self.note + "\n"
        return body + "".join(line if line.endswith("\n") else line + "\n" for line in self.lines)


_LINES = (
    "ARRAY(SELECT s.witness_key FROM checkpoint_cosignatures s "
    "WHERE s.shard = c.shard AND s.tree_size = c.tree_size ORDER BY s.witness_key) AS witness_keys, "
    "ARRAY(SELECT s.cosignature FROM checkpoint_cosignatures s "
    "WHERE s.shard = c.shard AND s.tree_size = c.tree_size ORDER BY s.witness_key) AS lines"
)


class CosignatureFault(VerificationError):
    """Why a stored cosignature does not hold; ``kind`` is the audit's mismatch kind for it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def witness_verifier(witness_key: str) -> CosignatureVerifier:
    """The cosigner key a ``witness_key`` column names; CosignatureFault ``cosignature_key`` if none."""
    try:
        return CosignatureVerifier.parse(witness_key)
    except (VerificationError, ValueError) as exc:
        raise CosignatureFault(
            "cosignature_key", f"witness_key {witness_key!r} is not a cosigner's key: {exc}"
        ) from None


def check_cosignature(witness: CosignatureVerifier, stored: str, note: str) -> int:
    """The POSIX time a stored cosignature line signs, once it verifies over the checkpoint ``note``.

    SPEC: C2SP tlog-cosignature, "The signed message MUST be two newline (U+000A) terminated
    lines (one header line and one timestamp line) followed by the whole note body of the
    cosigned checkpoint". Raises :class:`CosignatureFault`: ``cosignature_line`` when ``stored``
    is not one signature line by ``witness``'s name and key id, ``cosignature`` when it does not
    verify over ``note``'s text.
    """
    line = stored.removesuffix("\n")
    try:
        if not line.startswith(EM_DASH + " ") or "\n" in line:
            raise VerificationError("the stored cosignature is not one line starting with an em dash")
        signed = parse_note("-\n\n" + line + "\n").signatures[0]  # parsed as a verifier parses it
    except VerificationError as exc:
        raise CosignatureFault("cosignature_line", str(exc)) from None
    if (signed.name, signed.key_id) != (witness.name, witness.key_id):
        raise CosignatureFault(
            "cosignature_line",
            f"the line is by {signed.name!r} key id {signed.key_id.hex()}, the row names "
            f"{witness.name!r} key id {witness.key_id.hex()}",
        )
    try:
        text = parse_note(note).text
        timestamp = cosignature_timestamp(signed.signature)
    except VerificationError as exc:
        raise CosignatureFault("cosignature", str(exc)) from None
    if not witness.verify(text.encode(), signed.signature):
        raise CosignatureFault(
            "cosignature",
            f"the line does not verify under {witness.name!r} over the stored checkpoint "
            "(changed, or made for another checkpoint)",
        )
    return timestamp


def _holds(witness_key: str, line: str, note: str) -> bool:
    try:
        check_cosignature(witness_verifier(witness_key), line, note)
    except CosignatureFault:
        return False
    return True


def _witnessed(row: asyncpg.Record) -> WitnessedCheckpoint:
    # A stored line that does not verify would break the whole note for every client (SPEC:
    # C2SP signed-note, "If a signature from a known key fails to verify, clients SHOULD reject
    # the whole note"): it is left out here, and `provledger audit` names its row.
    note = row["note"]
    lines = tuple(
        line for key, line in zip(row["witness_keys"], row["lines"], strict=True) if _holds(key, line, note)
    )
    return WitnessedCheckpoint(row["shard"], row["height"], row["tree_size"], note, lines)


async def newest_checkpoint(conn: Conn, shard: int) -> WitnessedCheckpoint | None:
    """The checkpoint of the shard's newest block with whatever cosignatures it has, or None before any."""
    row = await conn.fetchrow(
        f"SELECT c.shard, c.height, c.tree_size, c.note, {_LINES} FROM shard_checkpoints c "
        "WHERE c.shard = $1 ORDER BY c.height DESC LIMIT 1",
        shard,
    )
    return None if row is None else _witnessed(row)


#: Each witness key ever stored, by a loose index scan of ``checkpoint_cosignatures_by_witness``
#: (one probe per witness), then each one's first cosigned size of the shard at or above $2.
_FIRSTS = """
WITH RECURSIVE witnesses (witness_key) AS (
    (SELECT witness_key FROM checkpoint_cosignatures ORDER BY witness_key LIMIT 1)
    UNION ALL
    SELECT (SELECT s.witness_key FROM checkpoint_cosignatures s WHERE s.witness_key > w.witness_key
            ORDER BY s.witness_key LIMIT 1)
    FROM witnesses w WHERE w.witness_key IS NOT NULL
), firsts AS (
    SELECT DISTINCT f.tree_size FROM witnesses w CROSS JOIN LATERAL (
        SELECT s.tree_size FROM checkpoint_cosignatures s
        WHERE s.witness_key = w.witness_key AND s.shard = $1 AND s.tree_size >= $2
        ORDER BY s.tree_size LIMIT 1
    ) f
    WHERE w.witness_key IS NOT NULL
), best AS (
    SELECT f.tree_size, (SELECT count(*) FROM checkpoint_cosignatures s
                         WHERE s.shard = $1 AND s.tree_size = f.tree_size) AS cosigners
    FROM firsts f ORDER BY cosigners DESC, f.tree_size LIMIT 1
)
"""


async def covering_cosigned(conn: Conn, shard: int, min_size: int) -> WitnessedCheckpoint | None:
    """The cosigned checkpoint an evidence bundle of tree ``min_size`` carries, with all its lines, or None.

    Among each witness's first cosigned checkpoint of the shard at or above ``min_size``, the one
    with the most cosignatures, the smallest on a tie. While every witness cosigns each checkpoint
    the anchorer submits, that is simply the smallest cosigned checkpoint covering the bundle (the
    first witnessed view that includes it, with the shortest consistency proof). When a witness
    was down, the smallest one lacks its cosignature for good, and a policy needing k witnesses
    on one checkpoint could never be met by it; the first one they all cosigned after is chosen
    instead. One index probe per witness key ever stored, whatever the shard's size.
    """
    row = await conn.fetchrow(
        f"{_FIRSTS} SELECT c.shard, c.height, c.tree_size, c.note, {_LINES} "
        "FROM best JOIN shard_checkpoints c ON c.shard = $1 AND c.tree_size = best.tree_size",
        shard,
        min_size,
    )
    return None if row is None else _witnessed(row)


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """One ``checkpoint_cosignatures`` row with the note of the checkpoint it names."""

    shard: int
    tree_size: int
    witness_key: str
    cosignature: str
    cosigned_at: datetime
    note: str


async def count_cosignatures(conn: Conn) -> int:
    """How many cosignature rows are stored (for a progress bar)."""
    count: int = await conn.fetchval("SELECT count(*) FROM checkpoint_cosignatures")
    return count


async def stream_cosignatures(conn: Conn) -> AsyncIterator[StoredCosignature]:
    """Every stored cosignature by ``(witness_key, shard, tree_size)``, with its checkpoint's note.

    That order lets the audit compare each witness's cosignatures of one shard one after the
    other (sizes only grow) while holding one page. Needs the caller's transaction (a cursor).
    """
    cursor = await conn.cursor(
        "SELECT s.shard, s.tree_size, s.witness_key, s.cosignature, s.cosigned_at, c.note "
        "FROM checkpoint_cosignatures s JOIN shard_checkpoints c "
        "ON c.shard = s.shard AND c.tree_size = s.tree_size "
        "ORDER BY s.witness_key, s.shard, s.tree_size"
    )
    while rows := await cursor.fetch(COSIGNATURE_PAGE):
        for r in rows:
            yield StoredCosignature(
                r["shard"], r["tree_size"], r["witness_key"], r["cosignature"], r["cosigned_at"], r["note"]
            )
