"""One shard's log in the sealer's memory: turns accepted events into the next signed block.

Pure and synchronous ("compute, then write"): :meth:`ShardLog.seal` returns a
:class:`~provledger.events.rows.SealedBlock` value and advances the in-memory head; the caller
writes the value and, if the write fails for any reason, throws this object away and reloads
the head from Postgres, so memory never runs ahead of what is committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from provledger.events.rows import ArtifactKey, EventRow, LineageRow, RunRow, SealedBlock, ShardState
from provledger.ledger.block import HEADER_VERSION, BlockHeader, block_hash, log_id_for, sign_header
from provledger.ledger.checkpoint import shard_checkpoint, sign_checkpoint
from provledger.ledger.compact import CompactRange
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import root
from provledger.sealer.tiling import TileAccumulator


class ShardLog:
    """The head of one shard's Merkle log: compact range, partial tiles, chain link, offset.

    ``log_origin`` names the ledger: its SHA-256 prefix is every header's ``log_id`` and
    ``<log_origin>/shard/<n>`` the origin of the shard checkpoint signed with each block.
    """

    def __init__(self, head: ShardState, log_origin: str) -> None:
        self.shard = head.shard
        self.log_origin = log_origin
        self.log_id = log_id_for(log_origin)
        self.next_height = head.next_height
        self.prev_block_hash = head.prev_block_hash
        self.next_offset = head.next_offset
        self._range = CompactRange(head.tree_size, head.frontier)
        self._tiles = TileAccumulator(head.tree_size, head.partial_tiles)

    @property
    def tree_size(self) -> int:
        return self._range.size

    def seal(
        self, events: Sequence[EventRow], first_offset: int, last_offset: int, key: SigningKey, sealed_at: int
    ) -> SealedBlock:
        """Append ``events`` as the next block covering source offsets ``[first_offset, last_offset]``."""
        if not events:
            raise ValueError("a block holds at least one event")
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
        self.next_offset = sealed.next_offset
        return sealed


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
