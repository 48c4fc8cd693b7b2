"""The witness's decisions on every path of C2SP tlog-witness add-checkpoint, on an in-memory store."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from tests.helpers.ledger_sealing import fixed_key
from tests.helpers.witness_logs import SampleLog, witness_key

from provledger.ledger.checkpoint import Checkpoint, sign_checkpoint
from provledger.ledger.cosignature import CosignatureVerifier, cosignature_timestamp, cosigner
from provledger.ledger.note import open_note, parse_note
from provledger.witness.protocol import SIZE_CONTENT_TYPE, checkpoint_path, format_add_checkpoint
from provledger.witness.service import Answer, Cosigned, MemoryWitnessStore, Witness

ORIGIN = "ledger.test/log/shard/0"
T0 = 1_800_000_000


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log() -> SampleLog:
    return SampleLog(ORIGIN, fixed_key("ledger.test/log", seed=3)).grow(10)


@pytest.fixture
def store() -> MemoryWitnessStore:
    return MemoryWitnessStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def witness(log: SampleLog, store: MemoryWitnessStore, clock: Clock) -> Witness:
    return Witness(witness_key(), {ORIGIN: (log.key.verifier,)}, store, clock)


def _cosigned(answer: Answer, note: str) -> int:
    """Check a 200 answer's cosignature over ``note`` the way a client does; its timestamp."""
    assert answer.status == 200, answer.body
    assert answer.body.startswith("\u2014 ".encode())
    assert answer.body.endswith(b"\n")
    verifier = CosignatureVerifier.parse(cosigner(witness_key()).verifier_key_string())
    opened = open_note(note + answer.body.decode(), [verifier])
    return cosignature_timestamp(opened.verified[0].signature)


async def test_first_checkpoint_then_each_extension_is_cosigned(
    witness: Witness, log: SampleLog, store: MemoryWitnessStore, clock: Clock
) -> None:
    assert _cosigned(await witness.add_checkpoint(log.request(0, 4)), log.checkpoint(4)) == T0
    clock.now += 5
    assert _cosigned(await witness.add_checkpoint(log.request(4, 10)), log.checkpoint(10)) == T0 + 5
    # Equal sizes with the same root: cosigned again, at the new time (a fresher statement).
    clock.now += 5
    assert _cosigned(await witness.add_checkpoint(log.request(10, 10)), log.checkpoint(10)) == T0 + 10
    kept = store.checkpoints[ORIGIN]
    assert (kept.size, kept.cosigned_at) == (10, T0 + 10)
    # What it keeps is the checkpoint with the log's signature and its own.
    assert [s.name for s in parse_note(kept.note).signatures] == [log.key.name, witness_key().name]


async def test_a_stale_old_size_gets_409_with_the_current_size(witness: Witness, log: SampleLog) -> None:
    assert (await witness.add_checkpoint(log.request(0, 4))).status == 200
    for old in (0, 3, 5):
        answer = await witness.add_checkpoint(log.request(old, 10) if old != 5 else log.request(5, 10))
        assert (answer.status, answer.body, answer.content_type) == (409, b"4\n", SIZE_CONTENT_TYPE)
    # A client that knows nothing asks with old 0 to learn the size, as the spec suggests.
    assert (await witness.add_checkpoint(log.request(0, 10))).body == b"4\n"


async def test_a_replayed_older_checkpoint_is_never_cosigned(
    witness: Witness, log: SampleLog, store: MemoryWitnessStore
) -> None:
    assert (await witness.add_checkpoint(log.request(0, 8))).status == 200
    # With the true old size, it is smaller than the checkpoint: 400; with its own size: 409.
    answer = await witness.add_checkpoint(format_add_checkpoint(8, [], log.checkpoint(5)))
    assert answer.status == 400
    assert b"larger than the checkpoint size" in answer.body
    assert (await witness.add_checkpoint(log.request(0, 5))).status == 409
    assert store.checkpoints[ORIGIN].size == 8
    assert not store.conflicts


async def test_an_inconsistent_checkpoint_is_refused_and_kept_as_evidence(
    witness: Witness, log: SampleLog, store: MemoryWitnessStore
) -> None:
    assert (await witness.add_checkpoint(log.request(0, 6))).status == 200
    fork = log.fork(4).grow(6, tag=b"fork")
    # The fork's own proof from 6 proves its own 6-leaf tree, not the one the witness cosigned.
    answer = await witness.add_checkpoint(fork.request(6, 10))
    assert answer.status == 422
    assert b"not consistent" in answer.body
    # The same size with another root.
    answer = await witness.add_checkpoint(fork.request(6, 6))
    assert answer.status == 422
    assert b"roots differ" in answer.body
    assert store.checkpoints[ORIGIN].size == 6
    first, second = store.conflicts
    assert (first.old_size, first.proof, first.submitted_note) == (6, tuple(fork.proof(6)), fork.checkpoint())
    assert first.latest_note == store.checkpoints[ORIGIN].note
    assert second.submitted_note == fork.checkpoint(6)


@pytest.mark.parametrize(
    ("old", "proof", "reason"),
    [
        (0, [b"\x01" * 32], b"takes no consistency proof"),
        (3, [], b"empty consistency proof"),
        (3, [b"\x02" * 32] * 3, b"consistency proof"),
    ],
)
async def test_bad_proofs_get_422(
    witness: Witness, log: SampleLog, old: int, proof: list[bytes], reason: bytes
) -> None:
    if old:
        assert (await witness.add_checkpoint(log.request(0, old))).status == 200
    answer = await witness.add_checkpoint(format_add_checkpoint(old, proof, log.checkpoint(10)))
    assert answer.status == 422
    assert reason in answer.body


async def test_size_zero_needs_the_empty_tree_root(witness: Witness, log: SampleLog) -> None:
    bad = sign_checkpoint(Checkpoint(ORIGIN, 0, bytes(32)), [log.key])
    answer = await witness.add_checkpoint(format_add_checkpoint(0, [], bad))
    assert answer.status == 422
    assert b"empty tree" in answer.body
    good = sign_checkpoint(Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()), [log.key])
    _cosigned(await witness.add_checkpoint(format_add_checkpoint(0, [], good)), good)


async def test_unknown_origin_404_bad_signature_403_malformed_400(
    witness: Witness, log: SampleLog, store: MemoryWitnessStore
) -> None:
    stranger = SampleLog("ledger.test/other", log.key).grow(2)
    assert (await witness.add_checkpoint(stranger.request(0))).status == 404
    # Signed by a key the witness does not know for the origin: no trusted signature.
    impostor = fixed_key("ledger.test/log", seed=4)
    answer = await witness.add_checkpoint(format_add_checkpoint(0, [], log.checkpoint(key=impostor)))
    assert answer.status == 403
    assert b"no signature from a trusted key" in answer.body
    # The trusted key's name and id, but a signature over other text: "fails to verify" is 403 too.
    note = parse_note(log.checkpoint(4))
    forged = log.checkpoint(5).split("\n\n")[0] + "\n\n" + note.signatures[0].line()
    answer = await witness.add_checkpoint(format_add_checkpoint(0, [], forged))
    assert answer.status == 403
    assert b"does not verify" in answer.body
    assert (await witness.add_checkpoint(b"old 0\n")).status == 400
    # Unknown signatures beside a good one are ignored, and not kept.
    extra = sign_checkpoint(Checkpoint(ORIGIN, 3, _root(log, 3)), [impostor, log.key])
    _cosigned(await witness.add_checkpoint(format_add_checkpoint(0, [], extra)), extra)
    kept = parse_note(store.checkpoints[ORIGIN].note).signatures
    assert [s.name for s in kept] == [log.key.name, witness_key().name]


def _root(log: SampleLog, size: int) -> bytes:
    return Checkpoint.parse(parse_note(log.checkpoint(size)).text).root


async def test_the_cosignature_time_never_goes_back(witness: Witness, log: SampleLog, clock: Clock) -> None:
    clock.now = T0 + 100
    assert _cosigned(await witness.add_checkpoint(log.request(0, 4)), log.checkpoint(4)) == T0 + 100
    clock.now = T0  # the clock is set back
    assert _cosigned(await witness.add_checkpoint(log.request(4, 6)), log.checkpoint(6)) == T0 + 100
    clock.now = 0  # and the timestamp is never zero
    other = Witness(witness_key(), {ORIGIN: (log.key.verifier,)}, MemoryWitnessStore(), clock)
    assert _cosigned(await other.add_checkpoint(log.request(0, 4)), log.checkpoint(4)) == 1


class YieldingStore(MemoryWitnessStore):
    """A store whose every call lets other requests run, as a real one waiting on its disk does."""

    async def latest(self, origin: str) -> Cosigned | None:
        await asyncio.sleep(0)
        return await super().latest(origin)

    async def advance(self, previous: Cosigned | None, new: Cosigned) -> bool:
        await asyncio.sleep(0)
        return await super().advance(previous, new)


async def test_concurrent_conflicting_requests_for_one_log_cosign_only_one(log: SampleLog) -> None:
    witness = Witness(witness_key(), {ORIGIN: (log.key.verifier,)}, YieldingStore())
    assert (await witness.add_checkpoint(log.request(0, 4))).status == 200
    fork = log.fork(4).grow(6, tag=b"fork")
    answers = await asyncio.gather(
        *(witness.add_checkpoint(branch.request(4, size)) for branch in (log, fork) for size in (6, 8, 10))
    )
    assert sorted(a.status for a in answers) == [200, 409, 409, 409, 409, 409]


async def test_a_lost_compare_and_set_answers_409(
    witness: Witness, log: SampleLog, store: MemoryWitnessStore
) -> None:
    """Another process advanced the shared state between the read and the write."""
    other = Witness(witness_key(), {ORIGIN: (log.key.verifier,)}, store)
    assert (await witness.add_checkpoint(log.request(0, 4))).status == 200
    original = store.advance

    async def interleaved(previous: Cosigned | None, new: Cosigned) -> bool:
        store.advance = original  # type: ignore[method-assign]
        assert (await other.add_checkpoint(log.request(4, 10))).status == 200
        return await original(previous, new)

    store.advance = interleaved  # type: ignore[method-assign]
    answer = await witness.add_checkpoint(log.request(4, 6))
    assert (answer.status, answer.body) == (409, b"10\n")
    assert store.checkpoints[ORIGIN].size == 10


async def test_the_monitoring_read(witness: Witness, log: SampleLog, store: MemoryWitnessStore) -> None:
    hashed = checkpoint_path(ORIGIN).split("/")[1]
    assert (await witness.checkpoint(hashed)).status == 404
    assert (await witness.add_checkpoint(log.request(0, 4))).status == 200
    answer = await witness.checkpoint(hashed)
    assert answer.status == 200
    assert answer.body.decode() == store.checkpoints[ORIGIN].note
    assert (await witness.checkpoint("0" * 64)).status == 404


def test_a_witness_of_no_log_is_refused(store: MemoryWitnessStore) -> None:
    with pytest.raises(ValueError, match="at least one log"):
        Witness(witness_key(), {}, store)
