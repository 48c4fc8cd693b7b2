"""The anchorer's loop: check every shard only grew, sign and store a statement, publish, anchor.

Every interval the active anchorer (:mod:`provledger.anchor.leader`):

1. compares the database's newest statement with the newest one it published to the
   checkpoints topic (read back when it became active, then remembered): a database that lacks
   a published statement, or holds another one under the same number, was restored or
   rewritten, and that is a fork;
2. reads every shard's newest block and, for each shard whose head moved since the newest
   statement, runs the growth check (:mod:`provledger.anchor.growth`) on the headers between
   and an RFC 9162 consistency proof from the stored tiles;
3. if any head moved, or the heartbeat is due, builds the shard-heads statement
   (:func:`provledger.ledger.checkpoint.heads_checkpoint`), signs it as a C2SP signed note with
   the anchorer's own key and stores it under the next sequence number, before any external call;
4. publishes every stored statement the topic does not hold yet, in order;
5. hands each published statement to every configured anchor kind (:mod:`.submit`) and, at the
   same time, each shard checkpoint of the newest statement's heads to every configured witness
   (:mod:`provledger.anchor.tlog_witness`), storing the cosignatures.

A witness that refuses a head as inconsistent with what it cosigned before is a fork too. It is
found in the same round as the kinds anchor the statement (witnesses and kinds run side by side
so that a witness that is down never delays a timestamp): the statement is then timestamped, which
puts the disagreement on record, and nothing after it is anchored.

On a fork it anchors nothing more, sets ``provledger_anchor_fork_detected`` to 1, logs the shard,
both heights and both roots at error level, and stays so, holding its lock so no standby anchors
the forked history either, until an operator restarts it (fail closed).

SPEC: C2SP signed-note: "A signed note consists of a text ending in newline (U+000A), followed
by a blank line (only a newline), followed by one or more signature lines"; the text is a C2SP
tlog-checkpoint whose extension lines name the shard heads (ARCHITECTURE.md section 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from provledger import logs
from provledger.anchor.growth import ForkDetected, Growth, check_all, moved, shard_fork
from provledger.anchor.kinds import AnyAnchorKind
from provledger.anchor.leader import Leadership
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.submit import KindSubmitter
from provledger.anchor.tlog_witness import WitnessClient, Witnesses
from provledger.anchor.topic import Published
from provledger.errors import ServiceUnavailable, VerificationError
from provledger.ledger.checkpoint import heads_checkpoint, sign_checkpoint
from provledger.ledger.keys import SigningKey
from provledger.store import anchors
from provledger.store.anchors import AnchoredHead, HeadBlock, StatementTaken, StoredStatement
from provledger.store.db import Conn
from provledger.store.keys import load_keyset
from provledger.store.tiles import ShardProofError, consistency_proofs
from provledger.store.unavailable import unavailable_as_service_error

_log = logs.get_logger(__name__)

#: Most stored statements published to the topic in one tick.
PUBLISH_PER_TICK = 256


class StatementLog(Protocol):
    """Where statements are published and read back from (the checkpoints topic)."""

    async def publish(self, seq: int, origin: str, note: str) -> None: ...

    async def last_published(self) -> Published | None: ...


@dataclass(frozen=True, slots=True)
class AnchorerOptions:
    """What the loop needs of the settings: the ledger's origin, the interval and the heartbeat."""

    log_origin: str
    interval_s: float
    heartbeat_s: float


def check_history(
    latest: StoredStatement | None, published: Published, stored: StoredStatement | None
) -> None:
    """Raise :class:`ForkDetected` unless the database holds ``published`` exactly as it was published.

    ``stored`` is the database's statement numbered ``published.seq`` (None if it has none).
    """
    newest = 0 if latest is None else latest.seq
    if newest < published.seq:
        raise ForkDetected(
            f"statement {published.seq} was published but the database's newest is {newest}: "
            "it was restored from a backup or rewritten"
        )
    if stored is None or stored.note != published.note:
        raise ForkDetected(
            f"the database's statement {published.seq} is not the one published under that number"
        )


class Anchorer:
    """One anchorer replica: takes the lock when it can, then anchors every interval."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        key: SigningKey,
        kinds: Sequence[AnyAnchorKind],
        statements: StatementLog,
        options: AnchorerOptions,
        metrics: AnchorerMetrics,
        witnesses: Sequence[WitnessClient] = (),
    ) -> None:
        self.pool = pool
        self.key = key
        self.statements = statements
        self.options = options
        self.metrics = metrics
        self.submitters = [KindSubmitter(kind, options.interval_s, metrics) for kind in kinds]
        # Not kinds: witnesses cosign each shard's checkpoint of the newest statement's heads.
        self.witnesses = Witnesses(witnesses, options.interval_s, metrics)
        self.active = False
        self.fork: ForkDetected | None = None
        self.published: Published | None = None

    @property
    def ready(self) -> bool:
        """Ready unless a fork stopped it (a standby is ready: it takes over when needed)."""
        return self.fork is None

    async def take_over(self) -> None:
        """Become the active anchorer: register the key, read back the newest published statement."""
        async with self.pool.acquire() as conn:
            await anchors.register_anchorer_key(conn, self.key.verifier)
        try:
            self.published = await self.statements.last_published()
        except VerificationError as exc:
            self.fail_closed(ForkDetected(f"the checkpoints topic's newest record is not a statement: {exc}"))
        # Active only once the topic was read: without it a restored database would go unnoticed.
        self.active = True
        self.metrics.active.set(1)
        _log.info(
            "anchorer active",
            key=self.key.verifier.verifier_key_string(),
            last_published=None if self.published is None else self.published.seq,
        )

    def stand_down(self, why: str) -> None:
        """Stop acting as the active anchorer (another one is, or the lock is gone)."""
        self.active = False
        self.metrics.active.set(0)
        _log.warning("anchorer standing down", reason=why)

    def fail_closed(self, fork: ForkDetected) -> None:
        """Anchor nothing more, raise the alarm, and say what was found."""
        self.fork = fork
        self.metrics.fork_detected.set(1)
        _log.error("fork detected: anchoring stopped until an operator restarts the anchorer",
                   error=str(fork), **fork.fields())  # fmt: skip

    async def tick(self) -> None:
        """One round: check and store a statement if due, publish it, submit it to every kind and witness.

        A witness refusing a shard head as inconsistent is a fork like the growth check's.
        """
        if self.fork is not None:
            return
        try:
            await self._anchor()
        except ForkDetected as fork:
            self.fail_closed(fork)
            return
        await self._publish()
        up_to = None if self.published is None else self.published.seq
        kinds = [] if up_to is None else [submitter.submit(self.pool, up_to) for submitter in self.submitters]
        witnessed, *_ = await asyncio.gather(self.witnesses.submit(self.pool), *kinds)
        if witnessed is not None:
            self.fail_closed(witnessed)

    async def _anchor(self) -> None:
        async with self.pool.acquire() as conn:
            latest = await anchors.latest_statement(conn)
            if self.published is not None:
                stored = latest if latest is not None and latest.seq == self.published.seq else None
                if stored is None and latest is not None and latest.seq > self.published.seq:
                    stored = await anchors.statement(conn, self.published.seq)
                check_history(latest, self.published, stored)
            heads = await anchors.newest_blocks(conn)
            growths = await _growths(conn, () if latest is None else latest.heads, heads)
            keyset = await load_keyset(conn) if growths else None
        if keyset is not None:
            check_all(growths, keyset)
        if not heads or not (growths or self._heartbeat_due(latest)):
            return
        anchored = [AnchoredHead(h.shard, h.height, h.tree_size, h.log_root, h.block_hash) for h in heads]
        checkpoint = heads_checkpoint(self.options.log_origin, [h.head() for h in anchored])
        note = sign_checkpoint(checkpoint, [self.key])
        seq = 1 if latest is None else latest.seq + 1
        async with self.pool.acquire() as conn:
            await anchors.insert_statement(conn, seq, checkpoint, note, anchored)
        self.metrics.statements.inc()
        _log.info("statement stored", seq=seq, shards=len(anchored), moved=len(growths))

    def _heartbeat_due(self, latest: StoredStatement | None) -> bool:
        return latest is None or time.time() - latest.created_at.timestamp() >= self.options.heartbeat_s

    async def _publish(self) -> None:
        after = 0 if self.published is None else self.published.seq
        async with self.pool.acquire() as conn:
            pending = await anchors.statements_after(conn, after, PUBLISH_PER_TICK)
        for statement in pending:
            try:
                await self.statements.publish(statement.seq, self.options.log_origin, statement.note)
            except ServiceUnavailable as exc:
                self.metrics.publish_failures.inc()
                _log.warning(
                    "cannot publish statement; retrying next tick", seq=statement.seq, error=str(exc)
                )
                return
            self.published = Published(statement.seq, statement.note)

    async def run(self, leadership: Leadership, stop: asyncio.Event) -> None:
        """Stand by or anchor, every interval, until ``stop`` is set."""
        while not stop.is_set():
            await self._round(leadership)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.interval_s)

    async def _round(self, leadership: Leadership) -> None:
        try:
            if not self.active and await leadership.try_acquire():
                await self.take_over()
            if not self.active:
                return
            if not await leadership.still_held():
                self.stand_down("the anchorer lock's session ended: another replica may be active")
                return
            with unavailable_as_service_error("the anchorer cannot reach the ledger database"):
                await self.tick()
        except StatementTaken as exc:
            self.stand_down(str(exc))
            await leadership.release()
        except ServiceUnavailable as exc:
            _log.warning("anchorer tick skipped; retrying next interval", error=str(exc))


async def _growths(conn: Conn, anchored: Sequence[AnchoredHead], heads: Sequence[HeadBlock]) -> list[Growth]:
    """What the growth check needs for each shard whose head moved since ``anchored``.

    The headers between and the consistency proofs of every moved shard come in one query each,
    whatever the number of shards.
    """
    before = {head.shard: head for head in anchored}
    gone = sorted(set(before) - {head.shard for head in heads})
    if gone:
        lost = before[gone[0]]
        raise ForkDetected(f"it has no block any more; block {lost.height} was anchored", shard=lost.shard,
                           anchored_height=lost.height, anchored_root=lost.log_root)  # fmt: skip
    growths: list[Growth] = []
    grown: list[tuple[AnchoredHead, HeadBlock]] = []
    for head in heads:
        old = before.get(head.shard)
        if not moved(old, head):
            continue
        if old is None or head.height <= old.height:
            growths.append(Growth(old, (head,), ()))
        else:
            grown.append((old, head))
    if not grown:
        return growths
    spans = [(head.shard, old.height, head.height) for old, head in grown]
    try:
        between = await anchors.blocks_between(conn, spans)
        proofs = await consistency_proofs(
            conn, [(head.shard, old.tree_size, head.tree_size) for old, head in grown]
        )
    except ShardProofError as exc:
        old, head = next((o, h) for o, h in grown if h.shard == exc.shard)
        raise shard_fork(str(exc), old, head) from exc
    for (old, head), blocks, proof in zip(grown, between, proofs, strict=True):
        if not blocks or blocks[-1] != head:
            raise shard_fork(f"blocks {old.height} to {head.height} do not end at the head read", old, head)
        growths.append(Growth(old, tuple(blocks), tuple(proof)))
    return growths
