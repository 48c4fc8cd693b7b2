"""The witness's decisions: which ``add-checkpoint`` requests it cosigns, and the answer to each.

:class:`Witness` takes request bodies and returns :class:`Answer` values (status, body,
content type); the HTTP app (:mod:`provledger.witness.app`) only moves bytes. Its durable
state is behind :class:`WitnessStore`, declared here for exactly what the witness needs
(SQLite in :mod:`provledger.witness.sqlite`, an in-memory fake in the tests)::

    >>> import asyncio
    >>> from provledger.ledger.checkpoint import Checkpoint, sign_checkpoint
    >>> from provledger.ledger.keys import SigningKey
    >>> from provledger.witness.protocol import format_add_checkpoint
    >>> log, me = SigningKey.generate("example.com/log"), SigningKey.generate("witness.example/w1")
    >>> witness = Witness(me, {"example.com/log": (log.verifier,)}, MemoryWitnessStore())
    >>> note = sign_checkpoint(Checkpoint("example.com/log", 3, bytes(32)), [log])
    >>> answer = asyncio.run(witness.add_checkpoint(format_add_checkpoint(0, [], note)))
    >>> answer.status, answer.body.decode().startswith("\\u2014 witness.example/w1 ")
    (200, True)
    >>> asyncio.run(witness.add_checkpoint(format_add_checkpoint(0, [], note))).body
    b'3\\n'

The checks, in the spec's order (SPEC: C2SP tlog-witness, "add-checkpoint"):

========================================================================  ======
a body that is not ``old`` line, proof lines, empty line, checkpoint        400
"If the checkpoint origin is unknown, the witness MUST respond with a
404 Not Found"                                                              404
"403 Forbidden [...] if either no signature from a trusted key for the
origin is present, or a signature line's key name and ID match a trusted
key but the signature itself fails to verify"                               403
"The old size MUST be equal to or lower than the checkpoint size.
Otherwise, the witness MUST respond with a 400 Bad Request"                 400
"the old size matches the size of the latest checkpoint it cosigned [...]
If it doesn't match, the witness MUST respond with a 409 Conflict"          409
the empty tree's root at size zero, no proof from size zero, a consistency
proof that verifies, identical roots at equal sizes                         422
========================================================================  ======

A 422 from a known log with a valid signature is evidence that the log misbehaved; the
witness keeps it (SPEC: "the witness MAY log the request even if the checkpoint fails one of
the consistency checks above (but MUST NOT cosign the checkpoint)").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from provledger import logs
from provledger.errors import VerificationError
from provledger.ledger.cosignature import MAX_TIMESTAMP, cosignature
from provledger.ledger.hashing import EMPTY_ROOT
from provledger.ledger.keys import SigningKey, VerifierKey
from provledger.ledger.merkle import verify_consistency
from provledger.ledger.note import Note, NoteSignature, open_note
from provledger.witness.protocol import (
    SIZE_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    AddCheckpointRequest,
    MalformedRequest,
    format_cosignatures,
    format_size,
    origin_hash,
    parse_add_checkpoint,
)

_log = logs.get_logger(__name__)

#: Largest tree size the witness records: its stores keep sizes as signed 64-bit integers
#: (SQLite INTEGER, Postgres BIGINT). No log holds 2^63 leaves; a checkpoint claiming more is
#: refused with 400 rather than stored wrongly.
MAX_RECORDED_SIZE: Final = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The latest checkpoint the witness cosigned for one log, as it keeps it.

    ``note`` is the checkpoint text with the log signatures that verified and the witness's
    own cosignature: what the monitoring endpoint serves.
    """

    origin: str
    size: int
    root: bytes
    note: str
    cosigned_at: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """Evidence of a misbehaving log: a validly signed checkpoint that failed a consistency check."""

    origin: str
    received_at: int
    reason: str
    old_size: int
    proof: tuple[bytes, ...]
    submitted_note: str
    latest_note: str | None


class WitnessStore(Protocol):
    """The witness's durable state: the latest cosigned checkpoint per log, and conflicts."""

    async def latest(self, origin: str) -> Cosigned | None:
        """The latest checkpoint cosigned for ``origin``, or None if none ever was."""
        ...

    async def advance(self, previous: Cosigned | None, new: Cosigned) -> bool:
        """Durably replace ``previous`` by ``new`` (same origin) iff it is still the stored one.

        A compare-and-set on size and root: False, and nothing written, when another writer
        (another process on the same state) got there first. It MUST be durable on return.
        """
        ...

    async def record_conflict(self, conflict: Conflict) -> None:
        """Keep the evidence of a conflict (a store MAY keep only the first ones per log)."""
        ...


class MemoryWitnessStore:
    """A :class:`WitnessStore` in a dict: for tests and examples, never durable."""

    def __init__(self) -> None:
        self.checkpoints: dict[str, Cosigned] = {}
        self.conflicts: list[Conflict] = []

    async def latest(self, origin: str) -> Cosigned | None:
        return self.checkpoints.get(origin)

    async def advance(self, previous: Cosigned | None, new: Cosigned) -> bool:
        if _head(self.checkpoints.get(new.origin)) != _head(previous):
            return False
        self.checkpoints[new.origin] = new
        return True

    async def record_conflict(self, conflict: Conflict) -> None:
        self.conflicts.append(conflict)


def _head(cosigned: Cosigned | None) -> tuple[int, bytes] | None:
    return None if cosigned is None else (cosigned.size, cosigned.root)


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status code, body and its content type."""

    status: int
    body: bytes
    content_type: str = TEXT_CONTENT_TYPE

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        """A refusal saying why, in one line of plain text."""
        return cls(status, message.encode() + b"\n")


class _Inconsistent(Exception):
    """A checkpoint that fails one of the spec's consistency checks (422)."""


class Witness:
    """A C2SP tlog-witness: cosigns checkpoints of the logs it knows, only ever forward.

    ``logs`` maps each origin to the verifier keys of its log. Requests for one origin are
    handled one at a time (an :class:`asyncio.Lock` per origin); across processes sharing a
    store, :meth:`WitnessStore.advance` is the guard.
    """

    def __init__(
        self,
        key: SigningKey,
        logs: Mapping[str, Sequence[VerifierKey]],
        store: WitnessStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not logs:
            raise ValueError("a witness needs at least one log to witness (fail closed)")
        self.key = key
        self._logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self._by_hash = {origin_hash(origin): origin for origin in self._logs}
        self._locks = {origin: asyncio.Lock() for origin in self._logs}
        self._store = store
        self._clock = clock

    @property
    def origins(self) -> tuple[str, ...]:
        """The origins of the logs this witness cosigns."""
        return tuple(self._logs)

    async def add_checkpoint(self, body: bytes) -> Answer:
        """Answer one ``add-checkpoint`` request body (SPEC: C2SP tlog-witness, "add-checkpoint")."""
        try:
            request = parse_add_checkpoint(body)
        except MalformedRequest as exc:
            return Answer.text(400, f"malformed add-checkpoint request: {exc}")
        origin = request.checkpoint.origin
        keys = self._logs.get(origin)
        if keys is None:
            # SPEC: "If the checkpoint origin is unknown, the witness MUST respond with a 404".
            return Answer.text(404, f"unknown log origin {origin!r}: this witness does not witness it")
        try:
            # SPEC: "The witness MUST verify the checkpoint signature against the public key(s) it
            # trusts for the checkpoint origin, and it MUST ignore signatures from unknown keys."
            verified = open_note(request.signed_note, keys).verified
        except VerificationError as exc:
            return Answer.text(403, f"checkpoint of {origin!r} is not signed by the log: {exc}")
        if request.old_size > request.checkpoint.size:
            # SPEC: "The old size MUST be equal to or lower than the checkpoint size. Otherwise,
            # the witness MUST respond with a 400 Bad Request HTTP status code."
            return Answer.text(
                400,
                f"old size {request.old_size} is larger than the checkpoint size {request.checkpoint.size}",
            )
        if request.checkpoint.size > MAX_RECORDED_SIZE:
            return Answer.text(400, f"checkpoint size {request.checkpoint.size} is beyond 2^63 - 1")
        # SPEC: "checking the old size against the latest checkpoint and persisting the new
        # checkpoint must be performed atomically": one request per origin at a time here, and a
        # compare-and-set in the store against other processes.
        async with self._locks[origin]:
            return await self._add(request, verified)

    async def _add(self, request: AddCheckpointRequest, log_signatures: tuple[NoteSignature, ...]) -> Answer:
        origin, checkpoint = request.checkpoint.origin, request.checkpoint
        latest = await self._store.latest(origin)
        # SPEC: "The witness MUST check that the old size matches the size of the latest
        # checkpoint it cosigned for the checkpoint's origin (or zero if it never cosigned a
        # checkpoint for that origin). If it doesn't match, the witness MUST respond with a
        # 409 Conflict HTTP status code."
        if request.old_size != (latest.size if latest else 0):
            return self._conflict(latest)
        try:
            _check_consistency(request, latest)
        except _Inconsistent as exc:
            await self._keep_evidence(request, latest, str(exc))
            return Answer.text(422, f"checkpoint of {origin!r} is not consistent: {exc}")
        # SPEC (tlog-cosignature): "timestamp is the time at which the cosignature was generated";
        # (tlog-witness): "the timestamp MUST NOT be zero". Never earlier than the last one either,
        # so a clock set back cannot date a larger tree before a smaller one.
        timestamp = min(MAX_TIMESTAMP, max(int(self._clock()), latest.cosigned_at if latest else 0, 1))
        line = cosignature(checkpoint.to_text(), self.key, timestamp)
        new = Cosigned(
            origin,
            checkpoint.size,
            checkpoint.root,
            Note(request.note.text, (*log_signatures, line)).to_text(),
            timestamp,
        )
        # SPEC: "If all the checks above pass, the witness MUST update its record of the latest
        # cosigned checkpoint"; "The witness MUST persist the new checkpoint before responding."
        if not await self._store.advance(latest, new):
            return self._conflict(await self._store.latest(origin))
        # SPEC: "respond with a 200 Success HTTP status code. The response body MUST be a
        # sequence of one or more note signature lines [...] The signatures MUST be cosignatures
        # from the witness key(s) on the checkpoint."
        return Answer(200, format_cosignatures([line]))

    @staticmethod
    def _conflict(latest: Cosigned | None) -> Answer:
        # SPEC: "The response body MUST consist of the tree size of the latest cosigned checkpoint
        # in decimal, followed by a newline (U+000A). The response MUST have a Content-Type of
        # text/x.tlog.size."
        return Answer(409, format_size(latest.size if latest else 0), SIZE_CONTENT_TYPE)

    async def _keep_evidence(
        self, request: AddCheckpointRequest, latest: Cosigned | None, reason: str
    ) -> None:
        origin = request.checkpoint.origin
        _log.warning(
            "refused an inconsistent checkpoint: the log may have forked",
            origin=origin,
            reason=reason,
            old_size=request.old_size,
            size=request.checkpoint.size,
            latest_size=latest.size if latest else None,
        )
        await self._store.record_conflict(
            Conflict(
                origin=origin,
                received_at=int(self._clock()),
                reason=reason,
                old_size=request.old_size,
                proof=request.proof,
                submitted_note=request.signed_note,
                latest_note=latest.note if latest else None,
            )
        )

    async def checkpoint(self, hashed_origin: str) -> Answer:
        """SPEC: ``GET <monitoring prefix>/<origin hash>/checkpoint``: the latest cosigned checkpoint.

        "The response body MUST be a checkpoint for the log identified by the origin, and it
        MUST include the cosignature(s) from the witness's key(s) that were returned from
        add-checkpoint and the cosignature from the log key(s) that the witness verified. If
        the witness has never cosigned a checkpoint for that log, it MUST respond with a 404."
        """
        origin = self._by_hash.get(hashed_origin)
        latest = await self._store.latest(origin) if origin is not None else None
        if latest is None:
            return Answer.text(404, "this witness has cosigned no checkpoint of a log with that origin hash")
        return Answer(200, latest.note.encode())


def _check_consistency(request: AddCheckpointRequest, latest: Cosigned | None) -> None:
    """The spec's 422 checks, once the old size is known to be the recorded size."""
    checkpoint, old_size, proof = request.checkpoint, request.old_size, request.proof
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        # SPEC: "A checkpoint of size zero MUST have the root hash of the empty tree [...]
        # Otherwise, the witness MUST respond with a 422 Unprocessable Entity HTTP status code."
        raise _Inconsistent("a checkpoint of size 0 must have the empty tree's root (SHA-256 of nothing)")
    if old_size == 0:
        # SPEC: "If the old size is zero, the consistency proof MUST be empty"; "If the proof is
        # not empty when the old size is zero [...] 422".
        if proof:
            raise _Inconsistent(f"old size 0 takes no consistency proof, got {len(proof)} lines")
        return
    assert latest is not None  # old_size == latest.size > 0
    try:
        # SPEC: "the consistency proof lines MUST encode a Merkle Consistency Proof from the old
        # size to the checkpoint size"; "If the old size matches the checkpoint size, the witness
        # MUST check that the root hashes are also identical." verify_consistency does both
        # (equal sizes: an empty proof and identical roots).
        verify_consistency(old_size, checkpoint.size, latest.root, checkpoint.root, proof)
    except VerificationError as exc:
        raise _Inconsistent(str(exc)) from exc
