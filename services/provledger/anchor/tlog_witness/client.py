"""One ``add-checkpoint`` exchange with one witness over HTTP, its answer checked before it is believed.

What a witness's answer means is decided here, once (SPEC: C2SP tlog-witness, "add-checkpoint"):

==========================================  =================================================
200 and cosignature lines                   :class:`Cosigned`, after the witness's own line
                                            verified over the exact checkpoint we sent
409 and a ``text/x.tlog.size`` body         :class:`SizeConflict`: the witness's size
422                                         :class:`Inconsistent`: the consistency proof
                                            failed: the witness holds another history
no answer in time, a refused connection,    :class:`WitnessUnavailable` (retry later)
5xx, 429
any other status (400, 403, 404, 413, ...)  :class:`WitnessRefused` (retry later; an operator
                                            must fix the witness's logs file or ours)
an answer that does not check out           :class:`~provledger.errors.VerificationError`
==========================================  =================================================

A witness is a party we do not control: every exchange is bounded in time
(``PROVLEDGER_WITNESSES_TIMEOUT_S``, connecting and reading included) and in size
(:data:`MAX_ANSWER_BYTES`), so a hostile or broken witness can neither hang the anchorer nor
fill its memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import httpx

from provledger.anchor.answers import read_capped
from provledger.anchor.tlog_witness.settings import WitnessEndpoint
from provledger.errors import ServiceUnavailable, VerificationError
from provledger.ledger.cosignature import cosignature_timestamp
from provledger.ledger.note import NoteSignature, open_note, parse_note
from provledger.witness.protocol import (
    ADD_CHECKPOINT_PATH,
    SIZE_CONTENT_TYPE,
    format_add_checkpoint,
    parse_cosignatures,
    parse_size,
)

#: Largest answer read from a witness: a few cosignature lines (~150 bytes each) or a size line.
#: A witness sending more is lying or broken; what it sent is dropped.
MAX_ANSWER_BYTES: Final = 16 << 10
#: Longest refusal text quoted in a log line or an error.
_QUOTED: Final = 200


class WitnessUnavailable(ServiceUnavailable):
    """The witness did not answer, or answered that it cannot now (5xx, 429): ask again later."""


class WitnessRefused(ServiceUnavailable):
    """The witness refused the request for a reason other than consistency (400, 403, 404, 413, ...).

    Usually configuration: the witness does not list the shard's origin (404) or trust the
    sealer's key (403). Waiting does not cure it, but nothing is wrong with the ledger either.
    """


@dataclass(frozen=True, slots=True)
class Cosigned:
    """A cosignature from the witness's own key that verified over the submitted checkpoint."""

    signature: NoteSignature
    cosigned_at: datetime

    @property
    def line(self) -> str:
        """The signature line exactly as the witness sent it (canonical base64, so re-encoding is exact)."""
        return self.signature.line()


@dataclass(frozen=True, slots=True)
class SizeConflict:
    """409: the witness's latest cosigned size is not the old size we sent."""

    size: int


@dataclass(frozen=True, slots=True)
class Inconsistent:
    """422: the witness found the checkpoint inconsistent with the one it cosigned (its words)."""

    reason: str


Answer = Cosigned | SizeConflict | Inconsistent


class WitnessClient:
    """Posts ``add-checkpoint`` requests to one witness and checks its answers against its key."""

    def __init__(self, endpoint: WitnessEndpoint, timeout_s: float, min_interval_s: float = 0.0) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        #: Least time between two submissions of one shard to this witness (its rate limit).
        self.min_interval_s = min_interval_s

    @property
    def name(self) -> str:
        """The witness's name (its key's)."""
        return self.endpoint.name

    async def add_checkpoint(
        self, http: httpx.AsyncClient, old_size: int, proof: Sequence[bytes], note: str
    ) -> Answer:
        """Submit ``note`` (a signed shard checkpoint) with a consistency proof from ``old_size``."""
        # SPEC: "The request body MUST be a sequence of an old size line, zero or more consistency
        # proof lines, and an empty line, followed by a checkpoint"; "The client MUST NOT send more
        # than 63 consistency proof lines" (format_add_checkpoint refuses more).
        body = format_add_checkpoint(old_size, proof, note)
        status, content_type, answer = await self._post(http, body)
        if status == 200:
            return self._cosigned(answer, parse_note(note).text)
        if status == 409:
            # SPEC: "The response body MUST consist of the tree size of the latest cosigned
            # checkpoint in decimal, followed by a newline (U+000A). The response MUST have a
            # Content-Type of text/x.tlog.size."
            if content_type != SIZE_CONTENT_TYPE:
                raise VerificationError(
                    f"witness {self.name} answered 409 as {content_type or 'no content type'}, "
                    f"not {SIZE_CONTENT_TYPE}"
                )
            try:
                return SizeConflict(parse_size(answer))
            except VerificationError as exc:
                raise VerificationError(f"witness {self.name}: {exc}") from exc
        said = answer[:_QUOTED].decode("utf-8", "replace").strip()
        if status == 422:
            # SPEC: "If the Merkle Consistency Proof doesn't verify, the witness MUST respond with
            # a 422 Unprocessable Entity HTTP status code."
            return Inconsistent(said or "422 Unprocessable Entity")
        if status >= 500 or status == 429:
            raise WitnessUnavailable(f"witness {self.name} answered HTTP {status}: {said}")
        raise WitnessRefused(f"witness {self.name} refused the checkpoint with HTTP {status}: {said}")

    def _cosigned(self, answer: bytes, text: str) -> Cosigned:
        """The witness's cosignature in a 200 answer, verified over ``text``, the checkpoint we sent."""
        try:
            # SPEC: "The client MUST ignore any cosignatures from unknown keys. To parse the response,
            # the client MAY concatenate it to the checkpoint, and use a note verification function
            # configured with the witness keys it trusts." A line of our witness's name and key id
            # that fails to verify makes the whole answer fail (open_note).
            parse_cosignatures(answer, text)
            opened = open_note(text.encode() + b"\n" + answer, [self.endpoint.key])
            if opened.text != text:  # an empty line inside the answer would move the note's text
                raise VerificationError("the answer is not only signature lines")
            signature = opened.verified[0]
            timestamp = cosignature_timestamp(signature.signature)
            # SPEC (tlog-witness): "the timestamp MUST NOT be zero" is the witness's duty; a zero
            # or unrepresentable time is a broken answer here, not a date to store.
            if timestamp == 0:
                raise VerificationError("the cosignature's timestamp is zero")
            cosigned_at = datetime.fromtimestamp(timestamp, UTC)
        except (VerificationError, OverflowError, ValueError, OSError) as exc:
            raise VerificationError(
                f"witness {self.name} answered a cosignature that does not verify: {exc}"
            ) from exc
        return Cosigned(signature, cosigned_at)

    async def _post(self, http: httpx.AsyncClient, body: bytes) -> tuple[int, str, bytes]:
        url = self.endpoint.url + ADD_CHECKPOINT_PATH
        headers = {"Accept-Encoding": "identity"}
        try:
            async with asyncio.timeout(self.timeout_s):
                async with http.stream("POST", url, content=body, headers=headers) as answer:
                    content_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
                    return answer.status_code, content_type, await self._read_capped(answer)
        except TimeoutError as exc:
            raise WitnessUnavailable(f"witness {self.name} did not answer within {self.timeout_s} s") from exc
        except httpx.HTTPError as exc:
            raise WitnessUnavailable(f"witness {self.name} at {url} is unreachable: {exc!r}") from exc

    async def _read_capped(self, answer: httpx.Response) -> bytes:
        if answer.headers.get("content-encoding", "identity").lower() != "identity":
            raise VerificationError(f"witness {self.name} answered with a content encoding we did not accept")
        length = answer.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_ANSWER_BYTES):
            raise VerificationError(
                f"witness {self.name} announced {length!r} bytes, more than {MAX_ANSWER_BYTES}"
            )
        return await read_capped(
            answer.aiter_raw(),
            MAX_ANSWER_BYTES,
            lambda: VerificationError(f"witness {self.name} sent more than {MAX_ANSWER_BYTES} bytes"),
        )
