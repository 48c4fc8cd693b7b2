"""The pure audit of stored witness cosignatures: fed every ``checkpoint_cosignatures`` row, it rechecks each.

Issue 18: "``audit`` checks stored cosignatures". For each row, in ``(witness_key, shard,
tree_size)`` order (:func:`provledger.store.witnessed.stream_cosignatures`):

* ``witness_key`` is a C2SP verifier key of an Ed25519 cosigner (signature type 0x04), and the
  stored line is one signature line by that key's name and key id;
* the line verifies over the stored checkpoint note. SPEC: C2SP tlog-cosignature, "The signed
  message MUST be two newline (U+000A) terminated lines (one header line and one timestamp line)
  followed by the whole note body of the cosigned checkpoint": ``cosignature/v1``, ``time <t>``
  and the note text of the row's ``(shard, tree_size)``, so a line taken from another checkpoint,
  by another key or with any byte changed does not verify;
* ``cosigned_at`` is the timestamp the line signs (the column queries use must not lie);
* per witness and shard, the cosigned sizes only grow with time. SPEC: C2SP tlog-witness, "The
  witness MUST check that the old size matches the size of the latest checkpoint it cosigned"
  and "MUST update its record of the latest cosigned checkpoint": each cosignature extends the
  last, so a larger tree cosigned earlier than a smaller one means a witness that was rolled back
  or a forged row. (``provledger witness`` also never dates a cosignature before its last one.)
  Two different checkpoints of one size cannot be stored: the foreign key names the one
  ``shard_checkpoints`` row of that size.

Which keys are trusted is the user's choice: with ``trusted`` witness keys given, a row naming a
key outside them is reported as untrusted (counted, listed, never taken as a witness's word) and
its line is still checked under the key it names; without them, each row is checked under its
own ``witness_key``, which shows the rows are self-consistent, not that the witness is genuine.

    >>> audit = CosignatureAudit(None, max_listed=10)
    >>> audit.add(StoredCosignature(0, 1, "not a key", "— w x", datetime.now(UTC), "o\\n1\\nA=\\n"))
    >>> audit.report().counts
    {'cosignature_key': 1}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from provledger.audit.report import CappedLog, _Tally
from provledger.ledger.cosignature import CosignatureVerifier
from provledger.store.witnessed import (
    CosignatureFault,
    StoredCosignature,
    check_cosignature,
    witness_verifier,
)

#: Every mismatch kind of the cosignatures' audit, with what it means.
COSIGNATURE_MISMATCH_KINDS: Final = {
    "cosignature_key": "the row's witness_key is not a C2SP verifier key of an Ed25519 cosigner (type 0x04)",
    "cosignature_line": "the stored line is not one signature line by the key the row names",
    "cosignature": "the line does not verify as cosignature/v1 over the stored checkpoint note",
    "cosignature_time": "cosigned_at differs from the timestamp the cosignature signs",
    "cosignature_order": "a witness cosigned a larger tree of the shard before a smaller one",
}


@dataclass(frozen=True, slots=True)
class CosignatureMismatch:
    """One stored cosignature that does not check out, named by its row's key columns."""

    kind: str
    shard: int
    tree_size: int
    witness_key: str
    detail: str

    def __post_init__(self) -> None:
        if self.kind not in COSIGNATURE_MISMATCH_KINDS:
            raise ValueError(f"unknown cosignature mismatch kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shard": self.shard,
            "tree_size": self.tree_size,
            "witness_key": self.witness_key,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CosignatureReport(_Tally):
    """What the cosignatures' audit found.

    ``verified`` counts, per witness key, the rows whose line verified under it; ``untrusted``,
    per witness key the user did not list, the rows naming it (None when no list was given).
    """

    cosignatures: int
    verified: dict[str, int]
    untrusted: dict[str, int] | None
    mismatches: tuple[CosignatureMismatch, ...]
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "cosignatures": self.cosignatures,
            "verified": dict(sorted(self.verified.items())),
            "untrusted": None if self.untrusted is None else dict(sorted(self.untrusted.items())),
            **self._mismatches_json(),
        }


@dataclass(slots=True)
class _Last:
    """The last row seen of one witness and shard: its size and cosignature time."""

    tree_size: int
    timestamp: int


class CosignatureAudit:
    """Rechecks stored cosignatures fed in ``(witness_key, shard, tree_size)`` order; no I/O."""

    def __init__(self, trusted: Collection[CosignatureVerifier] | None, max_listed: int) -> None:
        self._trusted = None if trusted is None else {key.verifier_key_string() for key in trusted}
        self._log: CappedLog[CosignatureMismatch] = CappedLog(max_listed)
        self._keys: dict[str, CosignatureVerifier | str] = {}  # a key, or why the text is none
        self._last: dict[tuple[str, int], _Last] = {}
        self._verified: Counter[str] = Counter()
        self._untrusted: Counter[str] = Counter()
        self._rows = 0

    def add(self, row: StoredCosignature) -> None:
        """Recheck one row (see the module docstring for what)."""
        self._rows += 1
        if self._trusted is not None and row.witness_key not in self._trusted:
            self._untrusted[row.witness_key] += 1
        try:
            timestamp = check_cosignature(self._key(row.witness_key), row.cosignature, row.note)
        except CosignatureFault as exc:
            self._record(exc.kind, row, str(exc))
            return
        self._verified[row.witness_key] += 1
        if int(row.cosigned_at.timestamp()) != timestamp or row.cosigned_at.microsecond:
            self._record(
                "cosignature_time", row,
                f"cosigned_at is {row.cosigned_at.isoformat()}, the cosignature signs "
                f"{_time(timestamp)}",
            )  # fmt: skip
        self._check_order(row, timestamp)

    def _check_order(self, row: StoredCosignature, timestamp: int) -> None:
        """A witness's cosignatures of one shard, by size, must not go back in time."""
        place = (row.witness_key, row.shard)
        last = self._last.get(place)
        if last is not None and timestamp < last.timestamp:
            self._record(
                "cosignature_order", row,
                f"size {row.tree_size} was cosigned at {_time(timestamp)}, before the smaller size "
                f"{last.tree_size} (at {_time(last.timestamp)}): the witness went back, or a row is forged",
            )  # fmt: skip
        if last is None or timestamp >= last.timestamp:
            self._last[place] = _Last(row.tree_size, timestamp)

    def _key(self, text: str) -> CosignatureVerifier:
        """The verifier ``text`` names, parsed once per witness (CosignatureFault if it names none)."""
        if text not in self._keys:
            try:
                self._keys[text] = witness_verifier(text)
            except CosignatureFault as exc:
                self._keys[text] = str(exc)
        found = self._keys[text]
        if isinstance(found, str):
            raise CosignatureFault("cosignature_key", found)
        return found

    def _record(self, kind: str, row: StoredCosignature, detail: str) -> None:
        self._log.add(CosignatureMismatch(kind, row.shard, row.tree_size, row.witness_key, detail))

    def report(self) -> CosignatureReport:
        """Totals and mismatches so far."""
        return CosignatureReport(
            self._rows,
            dict(self._verified),
            None if self._trusted is None else dict(self._untrusted),
            tuple(self._log.listed),
            dict(self._log.counts),
        )


def _time(timestamp: int) -> str:
    """A cosignature's POSIX time as RFC 3339 UTC (the timestamp is at most 2^63 - 1, not a date)."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"POSIX {timestamp}"
