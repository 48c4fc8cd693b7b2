"""The pure audit of one shard: fed its stored blocks and events in order, it recomputes everything.

No I/O: the driver (:mod:`provledger.audit.run`) streams rows in and matches the tile versions
this returns against the stored ones. Per block it checks that the header bytes decode and
match the row, the block hash, the signature under the key valid at ``sealed_at``, and the link
to the block before (:func:`~provledger.ledger.block.verify_chain`); per event, that it sits at
the next leaf index of the block covering it and that SHA-256(0x00 || canonical bytes) is its
leaf hash. The recomputed leaves, never the stored leaf hashes, then give the batch root, the log
root (one :class:`~provledger.ledger.compact.CompactRange` over the whole shard) and the tiles.

A missing event row leaves a hole: a placeholder leaf keeps every later leaf at its index, so
one deletion is reported where it happened instead of shifting every tile after it. Once the
recomputed log diverges from the headers, every later log root differs for that same reason, and
is counted in one summary mismatch rather than listed block by block, until a root matches again.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, fields

from provledger.audit.report import Mismatch, MismatchLog, ShardReport
from provledger.audit.tiles import ExpectedTile, TileExpector
from provledger.errors import VerificationError
from provledger.ledger.block import BlockHeader, log_id_for, verify_chain, verify_header_signature
from provledger.ledger.checkpoint import open_checkpoint, shard_origin
from provledger.ledger.compact import CompactRange
from provledger.ledger.hashing import HASH_SIZE
from provledger.ledger.keys import KeySet
from provledger.ledger.merkle import leaf_hash, root
from provledger.store.audit_reads import ShardInfo, StoredBlock, StoredCheckpoint, StoredEvent

#: Stands in for the leaf of a missing event row: no canonical bytes hash to all zeros.
MISSING_LEAF = bytes(HASH_SIZE)
#: More leaves than any sealer puts in one block: a row claiming more is damaged, and the audit
#: reads only this many for it, so memory stays bounded whatever the rows say.
MAX_BLOCK_LEAVES = 1 << 20
#: Header fields that the blocks row repeats in its own columns.
_COLUMNS = tuple(f.name for f in fields(StoredBlock) if f.name in {h.name for h in fields(BlockHeader)})


@dataclass(slots=True)
class _OpenBlock:
    row: StoredBlock
    header: BlockHeader | None
    end: int
    leaves: list[bytes] = field(default_factory=list)
    event_ids: list[uuid.UUID | None] = field(default_factory=list)
    times: list[int] = field(default_factory=list)


class ShardAudit:
    """Recomputes one shard from its rows; :meth:`report` says what did not match."""

    def __init__(self, info: ShardInfo, keyset: KeySet | VerificationError, max_listed: int) -> None:
        """``keyset`` is the error that loading it raised, when it could not be loaded."""
        self.info = info
        self._tiles = TileExpector()
        self._keyset = keyset
        self._log = MismatchLog(max_listed)
        self._range = CompactRange()
        self._previous: BlockHeader | None = None
        self._next_height = 0
        self._block: _OpenBlock | None = None
        self._diverged_at: int | None = None
        self._diverged_later: tuple[int, int, int] | None = None  # first, last height, count
        self.events = 0
        self.blocks = 0

    @property
    def tile_levels(self) -> int:
        return self._tiles.levels

    def _add(
        self,
        kind: str,
        height: int | None,
        detail: str,
        event_id: uuid.UUID | None = None,
        leaf_index: int | None = None,
    ) -> None:
        self._log.add(Mismatch(kind, height, detail, event_id, leaf_index))

    def open_block(self, row: StoredBlock) -> int:
        """Check one block row on its own and against the one before; return its leaf end index."""
        self.blocks += 1
        h = row.height
        header = None
        try:
            header = BlockHeader.from_bytes(row.header)
        except VerificationError as exc:
            self._add("header", h, str(exc))
        if hashlib.sha256(row.header).digest() != row.block_hash:
            self._add("block_hash", h, "block_hash is not the SHA-256 of the stored header bytes")
        if h != self._next_height:
            missing = (
                f"blocks {self._next_height}..{h - 1} are missing" if h > self._next_height else "repeated"
            )
            self._add("chain", h, f"height {h} follows height {self._next_height - 1}: {missing}")
        self._next_height = h + 1
        if header is not None:
            differing = [name for name in _COLUMNS if getattr(row, name) != getattr(header, name)]
            if differing:
                self._add(
                    "header_columns", h, f"columns differ from the signed header: {', '.join(differing)}"
                )
            self._verify_signature(header, row)
            if self._previous is not None:
                try:
                    verify_chain((self._previous, header))
                except VerificationError as exc:
                    self._add("chain", h, str(exc))
            self._previous = header
        end = header.tree_size if header is not None else row.tree_size
        if end - self._range.size > MAX_BLOCK_LEAVES:
            self._add("chain", h, f"the block claims leaves [{self._range.size}, {end}), more than "
                      f"{MAX_BLOCK_LEAVES}: only the first {MAX_BLOCK_LEAVES} are read for it")  # fmt: skip
            end = self._range.size + MAX_BLOCK_LEAVES
        self._block = _OpenBlock(row, header, end)
        return end

    def _verify_signature(self, header: BlockHeader, row: StoredBlock) -> None:
        if isinstance(self._keyset, VerificationError):
            self._add("signature", row.height, f"no key set to verify with: {self._keyset}")
            return
        try:
            verify_header_signature(header, row.signature, self._keyset)
        except VerificationError as exc:
            self._add("signature", row.height, str(exc))

    def add_event(self, event: StoredEvent) -> None:
        """Check the next event of the open block (the driver routes by leaf index < the block's end)."""
        block = self._current()
        h, self.events = block.row.height, self.events + 1
        where = (event.event_id, event.leaf_index)
        if event.leaf_index < self._range.size + len(block.leaves):
            # An earlier block's (damaged) tree size already covered this index with a placeholder.
            self._add("event_block", h, "the leaf index lies in leaves an earlier block covers", *where)
            return
        self._fill_gap(block, event.leaf_index)
        if event.height != h:
            self._add("event_block", h, f"the event row names block {event.height}", *where)
        recomputed = leaf_hash(event.canonical)
        if recomputed != event.leaf_hash:
            self._add("leaf_hash", h, "SHA-256(0x00 || canonical) differs from the stored leaf hash", *where)
        if not block.row.first_offset <= event.source_offset <= block.row.last_offset:
            self._add("event_offset", h, f"source offset {event.source_offset} is outside "
                      f"[{block.row.first_offset}, {block.row.last_offset}]", *where)  # fmt: skip
        block.leaves.append(recomputed)
        block.event_ids.append(event.event_id)
        block.times.append(event.event_time)

    def _fill_gap(self, block: _OpenBlock, up_to: int) -> None:
        first = self._range.size + len(block.leaves)
        if up_to > first:
            self._add("event_missing", block.row.height, f"no event row at leaf indexes [{first}, {up_to})",
                      leaf_index=first)  # fmt: skip
            block.leaves.extend([MISSING_LEAF] * (up_to - first))
            block.event_ids.extend([None] * (up_to - first))

    def _current(self) -> _OpenBlock:
        if self._block is None:
            raise RuntimeError("add_event or close_block without an open block")
        return self._block

    def close_block(self) -> list[ExpectedTile]:
        """Check the block's roots from its recomputed leaves; return the tile versions it must have made."""
        block = self._current()
        self._block = None
        row, h = block.row, block.row.height
        self._fill_gap(block, block.end)
        if block.times and (min(block.times), max(block.times)) != (row.min_event_time, row.max_event_time):
            self._add("event_times", h, f"events span [{min(block.times)}, {max(block.times)}], the block "
                      f"[{row.min_event_time}, {row.max_event_time}]")  # fmt: skip
        signed = block.header if block.header is not None else row
        if block.leaves and root(block.leaves) != signed.batch_root:
            self._add("batch_root", h, f"the root of the block's {len(block.leaves)} leaves differs")
        appended = self._range.append(block.leaves)
        if appended.root != signed.log_root:
            if self._diverged_at is None:
                self._diverged_at = h
                self._add("log_root", h, f"the root of leaves [0, {appended.tree_size}) differs")
            else:
                first, _, count = self._diverged_later or (h, h, 0)
                self._diverged_later = (first, h, count + 1)
        else:
            self._end_divergence()
        return self._tiles.add(block.leaves, block.event_ids, appended.nodes, h)

    def _end_divergence(self) -> None:
        """Summarise the run of log roots that differed only because of the first one."""
        if self._diverged_later:
            first, last, count = self._diverged_later
            self._add("log_root", first, f"{count} later blocks (heights {first}..{last}) have log roots "
                      f"that differ because of the divergence at block {self._diverged_at}")  # fmt: skip
        self._diverged_at = self._diverged_later = None

    def check_checkpoint(self, note: StoredCheckpoint | None) -> None:
        """The open block's shard checkpoint note MUST verify and name its origin, tree size and log root."""
        block = self._current()
        h = block.row.height
        if note is None:
            self._add("checkpoint_missing", h, "no shard_checkpoints row for this block")
            return
        if isinstance(self._keyset, VerificationError):
            self._add("checkpoint", h, f"no key set to verify with: {self._keyset}")
            return
        signed = block.header if block.header is not None else block.row
        # The note MUST be signed by the key that signed the block, as verify requires: another
        # trusted key (the anchorer's) must not vouch for a tree the block's signer never stated.
        own = [key for key in self._keyset.verifiers() if key.key_id == signed.key_id]
        try:
            checkpoint = open_checkpoint(note.note, own)
        except VerificationError as exc:
            self._add("checkpoint", h, f"not signed by the block's key {signed.key_id.hex()}: {exc}")
            return
        log_origin = checkpoint.origin.rpartition("/shard/")[0]
        problems = [
            (checkpoint.origin != shard_origin(log_origin, signed.shard), f"origin {checkpoint.origin!r}"),
            (block.header is not None and log_id_for(log_origin) != block.header.log_id, "another log_id"),
            (checkpoint.size != signed.tree_size, f"tree size {checkpoint.size}"),
            (note.tree_size != signed.tree_size, f"tree size {note.tree_size} in its row"),
            (checkpoint.root != signed.log_root, "another log root"),
        ]
        named = [text for bad, text in problems if bad]
        if named:
            self._add("checkpoint", h, "the note names " + ", ".join(named))

    def orphan_event(self, event: StoredEvent | uuid.UUID, height: int | None) -> None:
        """An event no block covers: a row past the last block, or an id only lineage still names."""
        if isinstance(event, StoredEvent):
            self.events += 1
            detail = f"leaf index {event.leaf_index} is beyond the last block's tree"
            self._add("event_orphan", height, detail, event.event_id, event.leaf_index)
        else:
            self._add("event_orphan", height, "lineage edges name this event, but its row is gone", event)

    def record(self, mismatch: Mismatch) -> None:
        """A mismatch the driver found (tiles, checkpoint rows) for this shard."""
        self._log.add(mismatch)

    def has_missing_events(self, height: int) -> bool:
        return self._log.has("event_missing", height)

    def report(self) -> ShardReport:
        """The shard's totals and mismatches; call after the last block."""
        self._end_divergence()
        return ShardReport(
            self.info.shard, self.info.topic, self.info.partition, self.events, self.blocks,
            self._range.size, tuple(self._log.listed), dict(self._log.counts),
        )  # fmt: skip
