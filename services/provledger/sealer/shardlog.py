"""One shard's log in the sealer's memory: turns accepted events into the next signed block.

Pure and synchronous ("compute, then write"): :meth:`ShardLog.seal` returns a
:class:`~provledger.events.rows.SealedBlock` value and advances the in-memory head; the caller
writes the value and, if the write fails for any reason, throws this object away and reloads
the head from Postgres, so memory never runs ahead of what is committed.

Seal times. Every block's ``sealed_at`` is strictly after its predecessor's and inside its key's
validity range, since that is how verifiers pick the key (:mod:`provledger.ledger.keys`). When the
clock reads a time at or before the previous block's (the clock stepped back: NTP, a VM
restored, another replica's clock ahead), the block is stamped one microsecond after its
predecessor instead: *clamping*. Waiting for the clock to catch up would stall every shard for
as long as the step (hours, for a restored VM), and refusing would stop sealing for what is not
a fault of the data; a clamped ``sealed_at`` is still a truthful bound ("not before the previous
block"), while the anchors' RFC 3161 timestamps give the independent time. Likewise a clock
behind the key's ``valid_from`` is raised to it. What is never clamped is the key's end: a block
that would be stamped at or after it raises :class:`StandDown`, because the key was retired by
a rotation and anything it signs from then on fails verification.
"""

from __future__ import annotations

from collections.abc import Sequence

from provledger.errors import ConfigurationError
from provledger.events.model import time_from_micros
from provledger.events.rows import ArtifactKey, EventRow, LineageRow, RunRow, SealedBlock, ShardState
from provledger.ledger.block import HEADER_VERSION, BlockHeader, block_hash, log_id_for, sign_header
from provledger.ledger.checkpoint import shard_checkpoint, sign_checkpoint
from provledger.ledger.compact import CompactRange
from provledger.ledger.keys import SigningKey, TrustedKey
from provledger.ledger.merkle import root
from provledger.sealer.tiling import TileAccumulator


class StandDown(ConfigurationError):
    """The sealer must stop: sealing on would sign blocks that fail verification or extend another log.

    Never a fault of the records, so never narrowed or dead-lettered (:mod:`.failures`).
    """


class ShardLog:
    """The head of one shard's Merkle log: compact range, partial tiles, chain link, offset.

    ``log_origin`` names the ledger: its SHA-256 prefix is every header's ``log_id`` and
    ``<log_origin>/shard/<n>`` the origin of the shard checkpoint signed with each block.
    ``previous`` is the header of the shard's newest block (None: no block yet, or unknown to
    the caller); its ``log_id`` MUST be this origin's, and the next ``sealed_at`` follows its own.
    """

    def __init__(self, head: ShardState, log_origin: str, previous: BlockHeader | None = None) -> None:
        self.shard = head.shard
        self.log_origin = log_origin
        self.log_id = log_id_for(log_origin)
        if previous is not None and previous.log_id != self.log_id:
            raise StandDown(
                f"shard {head.shard}'s newest block (height {previous.height}) has log_id "
                f"{previous.log_id.hex()}, not {self.log_id.hex()} of this sealer's origin {log_origin!r} "
                "(PROVLEDGER_LOG_ORIGIN): this database holds another ledger's log. Set "
                "PROVLEDGER_LOG_ORIGIN to that ledger's origin, or point the sealer at its own database."
            )
        #: ``sealed_at`` of the newest block; the next one is stamped strictly after it.
        self.last_sealed_at = None if previous is None else previous.sealed_at
        self.next_height = head.next_height
        self.prev_block_hash = head.prev_block_hash
        self.next_offset = head.next_offset
        self._range = CompactRange(head.tree_size, head.frontier)
        self._tiles = TileAccumulator(head.tree_size, head.partial_tiles)

    @property
    def tree_size(self) -> int:
        return self._range.size

    def seal_time(self, now: int, validity: TrustedKey | None = None) -> int:
        """The next block's ``sealed_at`` for a clock reading ``now`` (module docstring: clamped, never late).

        Raises :class:`StandDown` when that time is at or past the end of ``validity``, the
        signing key's registered range (None: no range known, only monotonicity applies).
        """
        stamp = now if self.last_sealed_at is None else max(now, self.last_sealed_at + 1)
        if validity is None:
            return stamp
        stamp = max(stamp, validity.valid_from)
        if validity.valid_until is not None and stamp >= validity.valid_until:
            raise key_retired(validity, stamp)
        return stamp

    def seal(
        self,
        events: Sequence[EventRow],
        first_offset: int,
        last_offset: int,
        key: SigningKey,
        sealed_at: int,
        validity: TrustedKey | None = None,
    ) -> SealedBlock:
        """Append ``events`` as the next block covering source offsets ``[first_offset, last_offset]``.

        ``sealed_at`` is the clock's reading; the header carries :meth:`seal_time` of it.
        """
        if not events:
            raise ValueError("a block holds at least one event")
        sealed_at = self.seal_time(sealed_at, validity)
        leaf_hashes = [event.leaf_hash for event in events]
        appended = self._range.append(leaf_hashes)
        self._tiles.add(appended.nodes)
        times = [event.event_time for event in events]
        header = BlockHeader(
            version=HEADER_VERSION,
            log_id=self.log_id,
            shard=self.shard,
            height=self.next_height,
            prev_block_hash=self.prev_block_hash,
            batch_root=root(leaf_hashes),
            tree_size=appended.tree_size,
            log_root=appended.root,
            first_offset=first_offset,
            last_offset=last_offset,
            event_count=len(events),
            min_event_time=min(times),
            max_event_time=max(times),
            sealed_at=sealed_at,
            key_id=key.key_id,
        )
        sealed = SealedBlock(
            shard=self.shard,
            header=header,
            header_bytes=header.to_bytes(),
            block_hash=block_hash(header),
            signature=sign_header(header, key),
            checkpoint=sign_checkpoint(shard_checkpoint(self.log_origin, header), [key]),
            events=tuple(events),
            tiles=tuple(self._tiles.drain()),
            runs=run_rows(events),
            lineage=lineage_rows(events),
            next_offset=last_offset + 1,
        )
        self.next_height += 1
        self.prev_block_hash = sealed.block_hash
        self.last_sealed_at = sealed_at
        self.next_offset = sealed.next_offset
        return sealed


def key_retired(validity: TrustedKey, at: int) -> StandDown:
    """Why a sealer whose key's range ends at or before ``at`` stands down, naming the command."""
    end = time_from_micros(validity.valid_until or 0).isoformat()
    return StandDown(
        f"signing key {validity.verifier.verifier_key_string()} was retired by `provledger keys rotate`: "
        f"it signs only blocks sealed before {end}, and the next block would be sealed at "
        f"{time_from_micros(at).isoformat()}. This sealer stops rather than sign blocks that fail "
        "verification; restart it with the new key file (PROVLEDGER_SIGNING_KEY_FILE)."
    )


def run_rows(events: Sequence[EventRow]) -> tuple[RunRow, ...]:
    """Each run the events belong to, once, as its first event in the block describes it."""
    runs: dict[str, RunRow] = {}
    for e in events:
        if e.run_id not in runs:
            runs[e.run_id] = RunRow(e.run_id, e.parent_run_id, e.job_namespace, e.job_name, e.event_time)
    return tuple(runs.values())


def lineage_rows(events: Sequence[EventRow]) -> tuple[LineageRow, ...]:
    """One edge per distinct (relation, run, artifact), naming the first event that records it.

    Lineage reads answer every edge once, with the first event that recorded it (ordered by
    ``recorded_at``, the block's ``sealed_at``, then insertion order), so the later repeats in
    one block would never be read: a run that uses one dataset in each of 10,000 events costs
    one row, not 10,000.
    """
    edges: dict[tuple[str, str, ArtifactKey], str] = {}
    for e in events:
        for artifact in e.inputs:
            edges.setdefault(("used", e.run_id, artifact), e.event_id)
        for artifact in e.outputs:
            edges.setdefault(("generated", e.run_id, artifact), e.event_id)
    return tuple(LineageRow(relation, run_id, artifact, event_id)
                 for (relation, run_id, artifact), event_id in edges.items())  # fmt: skip
