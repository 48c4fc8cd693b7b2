"""The anchorer's growth check: a shard's new head must extend its anchored head, or it is a fork."""

from __future__ import annotations

import dataclasses

import pytest

from provledger.anchor.growth import ForkDetected, Growth, check_growth, moved
from provledger.events.rows import EventRow, SealedBlock, ShardState
from provledger.ledger.block import GENESIS_PREV_HASH
from provledger.ledger.keys import KeySet, SigningKey
from provledger.ledger.merkle import consistency_proof, leaf_hash
from provledger.sealer.shardlog import ShardLog
from provledger.store.anchors import AnchoredHead, HeadBlock

ORIGIN = "growth.test/ledger"
KEY = SigningKey.generate("growth.test/sealer")
KEYSET = KeySet.of([KEY.verifier])


def _events(count: int, first: int, salt: str) -> list[EventRow]:
    rows = []
    for offset in range(first, first + count):
        canonical = f"{salt} event {offset}".encode()
        event_id = f"00000000-0000-7000-8000-{offset:012d}"
        time = 1_700_000_000_000_000 + offset
        rows.append(
            EventRow(
                event_id,
                canonical,
                leaf_hash(canonical),
                time,
                "COMPLETE",
                "run",
                None,
                "ns",
                "job",
                (),
                (),
                offset,
            )
        )
    return rows


@dataclasses.dataclass
class Chain:
    """One shard's blocks, as sealed, and every leaf hash (to build proofs the slow way)."""

    blocks: list[SealedBlock]
    leaves: list[bytes]

    def head(self, height: int) -> HeadBlock:
        b = self.blocks[height]
        return HeadBlock(b.shard, b.header.height, b.block_hash, b.header_bytes, b.signature,
                         b.header.tree_size, b.header.log_root)  # fmt: skip

    def anchored(self, height: int) -> AnchoredHead:
        h = self.blocks[height].header
        return AnchoredHead(h.shard, h.height, h.tree_size, h.log_root, self.blocks[height].block_hash)

    def growth(self, old: int, new: int) -> Growth:
        old_size = self.blocks[old].header.tree_size
        proof = consistency_proof(self.leaves[: self.blocks[new].header.tree_size], old_size)
        return Growth(self.anchored(old), tuple(self.head(h) for h in range(old, new + 1)), tuple(proof))


def seal_chain(sizes: list[int], salt: str = "a", key: SigningKey = KEY) -> Chain:
    log = ShardLog(ShardState(0, 0, GENESIS_PREV_HASH, 0, 0, (), ()), ORIGIN)
    blocks, leaves = [], []
    for number, size in enumerate(sizes):
        first = log.next_offset
        events = _events(size, first, salt)
        blocks.append(log.seal(events, first, first + size - 1, key, 1_700_000_000_000_000 + number))
        leaves += [e.leaf_hash for e in events]
    return Chain(blocks, leaves)


def test_a_log_that_only_grew_passes() -> None:
    chain = seal_chain([3, 5, 1, 7])
    check_growth(chain.growth(0, 3), KEYSET)
    check_growth(chain.growth(2, 3), KEYSET)
    check_growth(chain.growth(3, 3), KEYSET)


def test_a_shard_never_anchored_needs_only_a_signed_head() -> None:
    chain = seal_chain([2, 2])
    check_growth(Growth(None, (chain.head(1),), ()), KEYSET)
    assert moved(None, chain.head(1))
    assert not moved(chain.anchored(1), chain.head(1))
    assert moved(chain.anchored(0), chain.head(1))


def test_a_head_signed_by_an_untrusted_key_is_a_fork() -> None:
    chain = seal_chain([2, 2], key=SigningKey.generate("growth.test/thief"))
    with pytest.raises(ForkDetected, match="no trusted key"):
        check_growth(Growth(None, (chain.head(1),), ()), KEYSET)


def test_a_head_that_went_down_is_a_fork_naming_both_heights_and_roots() -> None:
    chain = seal_chain([2, 2, 2])
    with pytest.raises(ForkDetected, match="went down from height 2 to 1") as caught:
        check_growth(Growth(chain.anchored(2), (chain.head(1),), ()), KEYSET)
    fields = caught.value.fields()
    assert (fields["shard"], fields["anchored_height"], fields["new_height"]) == (0, 2, 1)
    assert caught.value.anchored_root == chain.blocks[2].header.log_root
    assert caught.value.new_root == chain.blocks[1].header.log_root


def test_another_block_at_the_anchored_height_is_a_fork() -> None:
    anchored, rewritten = seal_chain([2, 2]), seal_chain([2, 3], salt="b")
    with pytest.raises(ForkDetected, match="not the block anchored"):
        check_growth(Growth(anchored.anchored(1), (rewritten.head(1),), ()), KEYSET)


def test_history_rewritten_below_the_head_is_a_fork() -> None:
    """Same heights, later and higher head: but block 1 was replaced, so the chain breaks."""
    anchored, rewritten = seal_chain([2, 2]), seal_chain([2, 2, 4], salt="b")
    growth = rewritten.growth(1, 2)
    with pytest.raises(ForkDetected, match="no longer stored as it was anchored"):
        check_growth(dataclasses.replace(growth, anchored=anchored.anchored(1)), KEYSET)


def test_a_broken_link_is_a_fork() -> None:
    chain, other = seal_chain([2, 2, 2]), seal_chain([2, 2, 2], salt="b")
    growth = chain.growth(0, 2)
    spliced = (growth.blocks[0], other.head(1), growth.blocks[2])
    with pytest.raises(ForkDetected, match=r"prev_block_hash|block_hash"):
        check_growth(dataclasses.replace(growth, blocks=spliced), KEYSET)


def test_a_missing_block_between_is_a_fork() -> None:
    growth = seal_chain([2, 2, 2]).growth(0, 2)
    with pytest.raises(ForkDetected, match="not all stored"):
        check_growth(dataclasses.replace(growth, blocks=(growth.blocks[0], growth.blocks[2])), KEYSET)


def test_a_consistency_proof_that_does_not_verify_is_a_fork() -> None:
    growth = seal_chain([3, 5, 6]).growth(0, 2)
    tampered = (bytes(32), *growth.proof[1:])
    with pytest.raises(ForkDetected, match="shard 0"):
        check_growth(dataclasses.replace(growth, proof=tampered), KEYSET)


def test_a_row_whose_columns_disagree_with_its_header_is_a_fork() -> None:
    growth = seal_chain([2, 2]).growth(0, 1)
    lying = dataclasses.replace(growth.blocks[1], tree_size=99)
    with pytest.raises(ForkDetected, match="row columns differ"):
        check_growth(dataclasses.replace(growth, blocks=(growth.blocks[0], lying)), KEYSET)
