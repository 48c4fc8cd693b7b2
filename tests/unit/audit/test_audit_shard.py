"""The pure shard audit on rows built in memory by the sealer's own ShardLog (no database)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

import pytest

from provledger.audit import shard
from provledger.audit.report import Mismatch, ShardReport
from provledger.audit.shard import ShardAudit
from provledger.errors import VerificationError
from provledger.events.rows import EventRow, SealedBlock, ShardState
from provledger.ledger.block import GENESIS_PREV_HASH
from provledger.ledger.checkpoint import shard_checkpoint, sign_checkpoint
from provledger.ledger.keys import KeySet, SigningKey
from provledger.ledger.merkle import leaf_hash
from provledger.sealer.shardlog import ShardLog
from provledger.store.audit_reads import ShardInfo, StoredBlock, StoredCheckpoint, StoredEvent

KEY = SigningKey.generate("unit.test/sealer")
KEYSET = KeySet.of([KEY.verifier])
INFO = ShardInfo(0, "provledger.events", 0, 0)


def _seal(sizes: Iterable[int]) -> list[SealedBlock]:
    log = ShardLog(ShardState(0, 0, GENESIS_PREV_HASH, 0, 0, (), ()), "unit.test/ledger")
    blocks = []
    for size in sizes:
        first = log.next_offset
        events = []
        for offset in range(first, first + size):
            canonical = f"event {offset}".encode()
            events.append(EventRow(str(uuid.uuid4()), canonical, leaf_hash(canonical), 1000 + offset,
                                   "COMPLETE", "run", None, "ns", "job", (), (), offset))  # fmt: skip
        blocks.append(log.seal(events, first, first + size - 1, KEY, 5000 + first))
    return blocks


def _rows(block: SealedBlock) -> tuple[StoredBlock, list[StoredEvent]]:
    h = block.header
    row = StoredBlock(
        0, h.height, block.block_hash, h.prev_block_hash, block.header_bytes, block.signature, h.key_id,
        h.batch_root, h.tree_size, h.log_root, h.first_offset, h.last_offset, h.event_count,
        h.min_event_time, h.max_event_time, h.sealed_at,
    )  # fmt: skip
    events = [StoredEvent(uuid.UUID(e.event_id), block.first_leaf_index + i, h.height, e.leaf_hash,
                          e.canonical, e.event_time, e.source_offset)
              for i, e in enumerate(block.events)]  # fmt: skip
    return row, events


def _audit(
    rows: list[tuple[StoredBlock, list[StoredEvent]]],
    notes: dict[int, str] | None = None,
    keyset: KeySet | VerificationError = KEYSET,
) -> ShardReport:
    """Feed rows as the driver does: events by leaf index, each to the block whose end is above it.

    The driver also matches tiles; that is tested apart (test_audit_tiles), so they are ignored here.
    """
    audit = ShardAudit(INFO, keyset, max_listed=50)
    pending = sorted((e for _, events in rows for e in events), key=lambda e: e.leaf_index)
    for row, _ in rows:
        end = audit.open_block(row)
        if notes is not None:
            note = notes.get(row.height)
            audit.check_checkpoint(
                None if note is None else StoredCheckpoint(row.height, row.tree_size, note)
            )
        while pending and pending[0].leaf_index < end:
            audit.add_event(pending.pop(0))
        audit.close_block()
    for event in pending:
        audit.orphan_event(event, None)
    return audit.report()


def _kinds(report: ShardReport) -> list[tuple[str, int | None]]:
    return [(m.kind, m.height) for m in report.mismatches]


def test_sealed_rows_audit_clean_with_their_checkpoints() -> None:
    blocks = _seal([3, 300, 1])
    report = _audit([_rows(b) for b in blocks], {b.header.height: b.checkpoint for b in blocks})
    assert _kinds(report) == []
    assert (report.events, report.blocks, report.tree_size) == (304, 3, 304)


def test_an_undecodable_header_is_named_and_the_shard_still_audited() -> None:
    rows = [_rows(b) for b in _seal([2, 2, 2])]
    row, events = rows[1]
    rows[1] = (dataclasses.replace(row, header=row.header[:-1]), events)
    kinds = _kinds(_audit(rows))
    assert kinds[:2] == [("header", 1), ("block_hash", 1)]
    # Block 2 still links to block 0's signed header only through block 1, which no longer decodes.
    assert ("chain", 2) in kinds
    assert all(height in (1, 2) for _, height in kinds)


def test_a_missing_height_breaks_the_chain() -> None:
    rows = [_rows(b) for b in _seal([2, 2, 2])]
    kinds = _kinds(_audit([rows[0], rows[2]]))
    assert ("chain", 2) in kinds
    assert next(m for m in _audit([rows[0], rows[2]]).mismatches if m.kind == "chain").detail == (
        "height 2 follows height 0: blocks 1..1 are missing"
    )


def test_a_block_claiming_too_many_leaves_is_read_only_up_to_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shard, "MAX_BLOCK_LEAVES", 64)  # the real bound takes seconds to fill
    [(row, events)] = [_rows(b) for b in _seal([2])]
    huge = dataclasses.replace(row, header=b"", tree_size=2**40)
    report = _audit([(huge, events)])
    assert ("chain", 0) in _kinds(report)
    assert report.tree_size == 64
    assert report.counts["event_missing"] == 1


def test_a_block_claiming_leaves_of_the_next_keeps_later_leaves_in_place() -> None:
    rows = [_rows(b) for b in _seal([3, 7, 2, 4])]
    row, events = rows[1]
    rows[1] = (dataclasses.replace(row, header=b"", tree_size=14), events)  # really 10
    report = _audit(rows)
    late = [m for m in report.mismatches if m.kind == "event_block"]
    assert [(m.height, m.leaf_index) for m in late] == [(1, 10), (1, 11), (1, 12), (1, 13)]
    assert report.tree_size == 16
    # Blocks 1 and 2 no longer match the tree, but block 3's leaves stayed at their indexes: its root does.
    assert [m.height for m in report.mismatches if m.kind == "log_root"] == [1, 2]


def test_an_event_below_the_open_position_is_not_appended() -> None:
    [(row, events)] = [_rows(b) for b in _seal([4])]
    audit = ShardAudit(INFO, KEYSET, max_listed=10)
    audit.open_block(row)
    for event in (events[0], events[2], events[1], events[3]):
        audit.add_event(event)
    audit.close_block()
    report = audit.report()
    assert [(m.kind, m.leaf_index) for m in report.mismatches] == [
        ("event_missing", 1), ("event_block", 1), ("batch_root", None), ("log_root", None),
    ]  # fmt: skip


def test_checkpoint_notes_must_verify_and_name_the_block() -> None:
    blocks = _seal([2, 2, 2])
    other = SigningKey.generate("unit.test/other")
    forged = _seal([2])[0].checkpoint  # a valid note, of another tree
    notes = {0: blocks[0].checkpoint, 1: forged, 2: blocks[2].checkpoint.replace(KEY.name, other.name)}
    report = _audit([_rows(b) for b in blocks], notes)
    assert _kinds(report) == [("checkpoint", 1), ("checkpoint", 2)]
    assert report.mismatches[0].detail == "the note names tree size 2, another log root"
    assert "no signature from a trusted key" in report.mismatches[1].detail
    assert _kinds(_audit([_rows(b) for b in blocks], {})) == [("checkpoint_missing", h) for h in range(3)]


def test_a_checkpoint_note_signed_by_another_trusted_key_is_a_mismatch() -> None:
    blocks = _seal([2])
    anchorer = SigningKey.generate("unit.test/anchorer")
    note = sign_checkpoint(shard_checkpoint("unit.test/ledger", blocks[0].header), [anchorer])
    trusted = KeySet.of([KEY.verifier, anchorer.verifier])
    report = _audit([_rows(blocks[0])], {0: note}, trusted)
    assert _kinds(report) == [("checkpoint", 0)]
    assert f"not signed by the block's key {KEY.key_id.hex()}" in report.mismatches[0].detail


def test_without_a_key_set_nothing_verifies() -> None:
    blocks = _seal([1, 1])
    report = _audit([_rows(b) for b in blocks], keyset=VerificationError("the trusted key set is empty"))
    assert _kinds(report) == [("signature", 0), ("signature", 1)]
    assert report.mismatches[0].detail == "no key set to verify with: the trusted key set is empty"


def test_log_root_divergence_is_listed_once_then_summarised() -> None:
    rows = [_rows(b) for b in _seal([2, 2, 2, 2])]
    row, events = rows[0]
    rows[0] = (row, [dataclasses.replace(events[0], canonical=b"forged"), *events[1:]])
    report = _audit(rows)
    log_roots = [m for m in report.mismatches if m.kind == "log_root"]
    assert [(m.height, m.detail) for m in log_roots] == [
        (0, "the root of leaves [0, 2) differs"),
        (1, "3 later blocks (heights 1..3) have log roots that differ because of the divergence at block 0"),
    ]


def test_a_second_divergence_after_roots_match_again_is_listed_too() -> None:
    rows = [_rows(b) for b in _seal([2, 2, 2, 2])]
    for height in (0, 2):  # a forged log root in the row: the undecodable header leaves the row to check
        row, events = rows[height]
        rows[height] = (dataclasses.replace(row, header=b"", log_root=bytes(32)), events)
    assert [m.height for m in _audit(rows).mismatches if m.kind == "log_root"] == [0, 2]


def test_listing_is_capped_but_every_mismatch_counted() -> None:
    [(row, events)] = [_rows(b) for b in _seal([120])]
    forged = [dataclasses.replace(e, leaf_hash=bytes(32)) for e in events]
    report = _audit([(row, forged)])
    assert len(report.mismatches) == 50
    assert report.counts == {"leaf_hash": 120}
    assert report.mismatch_count == 120


def test_an_unknown_mismatch_kind_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown mismatch kind"):
        Mismatch("nonsense", 0, "")
