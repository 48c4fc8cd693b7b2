"""The monitor's judgement, on made-up chain events: what alarms and what does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provledger.anchor.evm.monitor import AnchoredEvent, file_statements, find_alarms
from provledger.errors import ConfigurationError
from provledger.ledger.checkpoint import ShardHead, heads_checkpoint, sign_checkpoint
from provledger.ledger.evm_receipt import origin_hash, statement_digest
from provledger.ledger.keys import SigningKey

KEY = SigningKey.generate("monitor.test/anchorer")
ORIGIN = "monitor.test/ledger"


def statement(*heads: tuple[int, int, int]) -> str:
    return sign_checkpoint(
        heads_checkpoint(ORIGIN, [ShardHead(s, h, bytes([b]) * 32) for s, h, b in heads]), [KEY]
    )


def event(seq: int, note: str, block: int = 10) -> AnchoredEvent:
    return AnchoredEvent(block, f"0x{seq:064x}", origin_hash(note), seq, statement_digest(note))


ONE, TWO = statement((0, 1, 1)), statement((0, 2, 2))


def test_the_ledgers_own_anchors_raise_no_alarm() -> None:
    assert find_alarms([event(1, ONE), event(2, TWO, 11)], {1: ONE, 2: TWO}) == []


def test_an_unserved_renumbered_or_twice_anchored_statement_alarms() -> None:
    kinds = [a.kind for a in find_alarms([event(1, ONE), event(3, TWO)], {1: ONE})]
    assert kinds == ["unserved"]
    assert [a.kind for a in find_alarms([event(5, ONE)], {1: ONE})] == ["renumbered"]
    twice = find_alarms([event(2, TWO), event(2, ONE, 12)], {2: TWO})
    assert [a.kind for a in twice] == ["unserved", "conflict"]


def test_heads_that_cannot_both_be_the_ledgers_conflict() -> None:
    forged = statement((0, 1, 9))  # another block at height 1
    alarms = find_alarms([event(1, ONE), event(2, forged)], {1: ONE}, [forged])
    assert alarms[-1].detail == "statements 1 and 2 name different blocks as shard 0 height 1"
    shrunk = statement((0, 0, 7))  # a later statement below an earlier head
    alarms = find_alarms([event(2, TWO), event(3, shrunk)], {2: TWO}, [shrunk])
    assert "heads only grow" in alarms[-1].detail


def test_another_origin_or_a_malformed_statement_alarms() -> None:
    moved = AnchoredEvent(10, "0x" + "00" * 32, origin_hash("elsewhere\n"), 1, statement_digest(ONE))
    assert [a.kind for a in find_alarms([moved], {1: ONE})] == ["origin"]
    junk = "not a note\n"
    assert [a.kind for a in find_alarms([event(1, junk)], {1: junk})] == ["malformed"]


def test_statement_files_in_each_shape(tmp_path: Path) -> None:
    path = tmp_path / "statements"
    for text in (json.dumps([ONE, TWO]), json.dumps({"items": [{"note": ONE}, {"note": TWO}]}),
                 f"{json.dumps({'note': ONE})}\n{json.dumps(TWO)}\n"):  # fmt: skip
        path.write_text(text)
        assert file_statements(path) == [ONE, TWO]
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigurationError, match="no list of statement notes"):
        file_statements(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        file_statements(tmp_path / "absent")
