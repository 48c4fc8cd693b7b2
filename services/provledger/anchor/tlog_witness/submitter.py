"""Submit each anchored shard head's checkpoint to every witness, prove again on 409, store each cosignature.

Every tick, after the anchorer stored (and growth-checked) its newest statement, each witness is
sent, for every shard of that statement whose head it has not cosigned yet, the shard's
checkpoint with a consistency proof from the size it last cosigned (``checkpoint_cosignatures``;
0 and no proof when none). Only heads the anchorer's own growth check passed are ever submitted.

- 409: the witness's size is not ours (it lost its state, or we lost a row, or another run
  advanced it): prove again once from the size it states (SPEC: C2SP tlog-witness, "If a client
  doesn't have information on the latest cosigned checkpoint, it MAY initially make a request
  with a old size of zero to obtain it"). A size beyond our newest block is a history we do not
  have: a fork. A 409 at our own size answers "same size, another root": a fork too.
- 422: the witness cannot verify our proof from what it cosigned: it holds another history of
  the shard. That is a fork alarm, and the anchorer fails closed exactly as for its growth check.
- Down, slow, or answering what does not verify: counted in the witness's failures metric,
  nothing stored, and that witness alone backs off (1, 2, 4, ... up to 32 ticks); the others,
  and the anchor kinds, go on. Refusing a shard for another reason (400, 403, 404: usually
  configuration) is counted too; the witness backs off only when it refused every shard it was
  sent that tick, so one unknown origin does not hold back the shards it does witness.

Each witness runs on its own (:func:`asyncio.gather`), its shards one after another on one
keep-alive connection (SPEC: "Clients SHOULD use, and witnesses SHOULD support, HTTP keep-alive
HTTP connections"). A witness gets one request timeout's worth of time per tick to start
requests in: one slow to answer every shard delays the tick by at most about twice its timeout,
not once per shard; the shards left are sent first next tick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Final

import asyncpg
import httpx

from provledger import logs
from provledger.anchor.growth import ForkDetected
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.tlog_witness.client import (
    Cosigned,
    Inconsistent,
    SizeConflict,
    WitnessClient,
    WitnessRefused,
    WitnessUnavailable,
)
from provledger.errors import VerificationError
from provledger.ledger.checkpoint import Checkpoint
from provledger.ledger.note import parse_note
from provledger.store import anchors, cosignatures, reads
from provledger.store.cosignatures import ShardCheckpoint
from provledger.store.tiles import consistency_proof, consistency_proofs

#: Longest wait before trying a failing witness again, in anchor intervals.
MAX_BACKOFF_TICKS: Final = 32

_log = logs.get_logger(__name__)


def _witness_fork(reason: str, checkpoint: ShardCheckpoint) -> ForkDetected:
    root = Checkpoint.parse(parse_note(checkpoint.note).text).root
    return ForkDetected(reason, shard=checkpoint.shard, new_root=root)


class WitnessSubmitter:
    """One witness with its backoff (consecutive failures, next time to try) and per-shard pacing."""

    def __init__(self, client: WitnessClient, interval_s: float, metrics: AnchorerMetrics) -> None:
        self.client = client
        self.interval_s = interval_s
        self.metrics = metrics
        self.failures = 0
        self.next_try = 0.0
        self.last_sent: dict[int, float] = {}
        metrics.watch_witness(client.name)

    @property
    def name(self) -> str:
        """The witness's name."""
        return self.client.name

    def _failed(self, shard: int, exc: Exception, *, back_off: bool) -> None:
        self.metrics.witness_failures.labels(self.name).inc()
        retry_in_s = self._back_off() if back_off else 0.0
        _log.warning("witness submission failed; retrying later", witness=self.name, shard=shard,
                     error=str(exc), retry_in_s=retry_in_s)  # fmt: skip

    def _back_off(self) -> float:
        """Skip this witness for 1, 2, 4, ... ticks (at most 32); the seconds until it is asked again."""
        self.failures += 1
        retry_in_s: float = min(2 ** (self.failures - 1), MAX_BACKOFF_TICKS) * self.interval_s
        self.next_try = time.monotonic() + retry_in_s
        return retry_in_s

    def _due(self, checkpoint: ShardCheckpoint, cosigned: int, now: float) -> bool:
        paced = now - self.last_sent.get(checkpoint.shard, -float("inf")) >= self.client.min_interval_s
        return cosigned < checkpoint.tree_size and paced

    async def submit(self, pool: asyncpg.Pool, checkpoints: Sequence[ShardCheckpoint]) -> ForkDetected | None:
        """Submit every checkpoint this witness has not cosigned; the fork it revealed, if any."""
        now = time.monotonic()
        if now < self.next_try or not checkpoints:
            return None
        key = self.client.endpoint.key_string
        async with pool.acquire() as conn:
            cosigned = await cosignatures.cosigned_sizes(conn, key, [c.shard for c in checkpoints])
        due = [c for c in checkpoints if self._due(c, cosigned.get(c.shard, 0), now)]
        if not due:
            return None
        # Least recently sent first, so shards cut off by the tick budget go first next tick.
        due.sort(key=lambda c: self.last_sent.get(c.shard, -float("inf")))
        proofs = await self._proofs(pool, due, cosigned)
        # Each request is bounded by the client's own asyncio.timeout; httpx needs no limits of its own.
        refused = 0
        async with httpx.AsyncClient(follow_redirects=False, timeout=None) as http:
            for checkpoint in due:
                if time.monotonic() - now > self.client.timeout_s:
                    # A witness slow to answer each shard (within the timeout) must not hold the
                    # tick for shards x timeout: the rest wait for the next tick, nothing is lost.
                    _log.warning("witness tick budget spent; the other shards wait", witness=self.name,
                                 left=len(due) - due.index(checkpoint))  # fmt: skip
                    break
                self.last_sent[checkpoint.shard] = now
                try:
                    await self._submit_one(
                        pool,
                        http,
                        checkpoint,
                        cosigned.get(checkpoint.shard, 0),
                        proofs.get(checkpoint.shard),
                    )
                except ForkDetected as fork:
                    self.metrics.witness_failures.labels(self.name).inc()
                    return fork
                except WitnessRefused as exc:
                    refused += 1
                    self._failed(checkpoint.shard, exc, back_off=False)  # another shard may be fine
                except (WitnessUnavailable, VerificationError) as exc:
                    self._failed(checkpoint.shard, exc, back_off=True)
                    return None
        if refused and refused == len(due):
            self._back_off()  # it refuses every shard: its configuration or ours needs an operator
        return None

    @staticmethod
    async def _proofs(
        pool: asyncpg.Pool, due: Sequence[ShardCheckpoint], cosigned: dict[int, int]
    ) -> dict[int, list[bytes]]:
        """The first consistency proof of every due shard, in one query (none where one cannot be built)."""
        wanted = [(c.shard, cosigned[c.shard], c.tree_size) for c in due if c.shard in cosigned]
        if not wanted:
            return {}
        try:
            async with pool.acquire() as conn:
                built = await consistency_proofs(conn, wanted)
        except VerificationError:
            return {}  # each shard proves on its own then, and only its own submission fails
        return {shard: proof for (shard, _, _), proof in zip(wanted, built, strict=True)}

    async def _submit_one(
        self,
        pool: asyncpg.Pool,
        http: httpx.AsyncClient,
        checkpoint: ShardCheckpoint,
        old_size: int,
        proof: list[bytes] | None,
    ) -> None:
        shard, size = checkpoint.shard, checkpoint.tree_size
        old = old_size
        for attempt in (1, 2):
            answer = await self._send(pool, http, checkpoint, old, proof if attempt == 1 else None)
            if not isinstance(answer, SizeConflict):
                break
            if answer.size == old:
                if old == size:
                    # SPEC: "If the old size matches the checkpoint size, the witness MUST check that
                    # the root hashes are also identical. If they don't match, the witness MUST
                    # respond with a 409 Conflict HTTP status code."
                    raise _witness_fork(
                        f"witness {self.name} cosigned size {size} with another root", checkpoint
                    )
                raise VerificationError(
                    f"witness {self.name} answered 409 naming the old size {old} it was sent"
                )
            if answer.size > size:
                await self._ahead(pool, checkpoint, answer.size)
                return
            if attempt == 2:
                raise WitnessUnavailable(
                    f"witness {self.name} moved to size {answer.size} during shard {shard}"
                )
            _log.info("witness size differs from ours; proving again from its size",
                      witness=self.name, shard=shard, ours=old, theirs=answer.size)  # fmt: skip
            old = answer.size
        if isinstance(answer, Inconsistent):
            raise _witness_fork(
                f"witness {self.name} refused its checkpoint at size {size} as inconsistent with size "
                f"{old} it cosigned: {answer.reason}",
                checkpoint,
            )
        if isinstance(answer, Cosigned):
            await self._store(pool, checkpoint, answer)

    async def _send(
        self,
        pool: asyncpg.Pool,
        http: httpx.AsyncClient,
        checkpoint: ShardCheckpoint,
        old_size: int,
        proof: list[bytes] | None,
    ) -> Cosigned | SizeConflict | Inconsistent:
        if proof is None:
            proof = []
            if 0 < old_size < checkpoint.tree_size:
                async with pool.acquire() as conn:
                    proof = await consistency_proof(conn, checkpoint.shard, old_size, checkpoint.tree_size)
        return await self.client.add_checkpoint(http, old_size, proof, checkpoint.note)

    async def _ahead(self, pool: asyncpg.Pool, checkpoint: ShardCheckpoint, stated: int) -> None:
        """The witness cosigned a size beyond our anchored head: ours too, later, or a history we lost."""
        async with pool.acquire() as conn:
            newest = await reads.latest_checkpoint(conn, checkpoint.shard)
        newest_size = 0 if newest is None else Checkpoint.parse(parse_note(newest).text).size
        if newest_size < stated:
            raise _witness_fork(
                f"witness {self.name} cosigned size {stated}, but the log here ends at size {newest_size}: "
                "the database lost blocks the witness saw (restored from a backup, or rewritten)",
                checkpoint,
            )
        # A block sealed after the statement reached the witness first (another anchorer replica):
        # the next statement's head catches up with it.
        _log.info("witness is ahead of the anchored head; next statement", witness=self.name,
                  shard=checkpoint.shard, anchored=checkpoint.tree_size, theirs=stated)  # fmt: skip

    async def _store(self, pool: asyncpg.Pool, checkpoint: ShardCheckpoint, cosigned: Cosigned) -> None:
        async with pool.acquire() as conn:
            stored = await cosignatures.insert_cosignature(
                conn, checkpoint.shard, checkpoint.tree_size, self.client.endpoint.key_string,
                cosigned.line, cosigned.cosigned_at,
            )  # fmt: skip
        self.failures = 0
        self.metrics.witnessed(self.name)
        _log.info("checkpoint cosigned", witness=self.name, shard=checkpoint.shard,
                  tree_size=checkpoint.tree_size, stored=stored)  # fmt: skip


class Witnesses:
    """Every configured witness, each asked on its own, for the heads of the newest stored statement."""

    def __init__(self, clients: Sequence[WitnessClient], interval_s: float, metrics: AnchorerMetrics) -> None:
        self.submitters = [WitnessSubmitter(client, interval_s, metrics) for client in clients]

    async def submit(self, pool: asyncpg.Pool) -> ForkDetected | None:
        """Submit the newest statement's shard checkpoints to every witness; the first fork any revealed."""
        if not self.submitters:
            return None
        async with pool.acquire() as conn:
            latest = await anchors.latest_statement(conn)
            if latest is None:
                return None
            heads = [(head.shard, head.tree_size) for head in latest.heads]
            checkpoints = await cosignatures.checkpoints_at(conn, heads)
        forks = await asyncio.gather(*(s.submit(pool, checkpoints) for s in self.submitters))
        return next((fork for fork in forks if fork is not None), None)
