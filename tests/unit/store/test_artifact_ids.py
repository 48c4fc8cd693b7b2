"""The sealer's memory of committed artifact ids: bounded, and forgetting the least recently used."""

from __future__ import annotations

from provledger.store.artifacts import ArtifactIds

DATASET = ("s3://lake", "imagenet", "sha256:" + "ab" * 32)


def _output(n: int) -> tuple[str, str, str]:
    return ("models", f"ckpt-{n}", "sha256:" + f"{n:064x}")


def test_an_artifact_every_block_uses_outlives_the_one_off_outputs() -> None:
    ids = ArtifactIds(capacity=3)
    ids.learn({DATASET: 1, _output(1): 2})
    for n in range(2, 10):  # each block: the dataset again and a new output
        ids.learn({DATASET: 1, _output(n): n + 1})
    remembered = ids.lookup({DATASET, _output(7), _output(8), _output(9)})
    assert remembered == {DATASET: 1, _output(8): 9, _output(9): 10}


def test_nothing_is_forgotten_below_capacity() -> None:
    ids = ArtifactIds(capacity=10)
    ids.learn({_output(n): n for n in range(10)})
    assert ids.lookup({_output(n) for n in range(10)}) == {_output(n): n for n in range(10)}
    ids.learn({_output(10): 10})
    assert ids.lookup({_output(0), _output(10)}) == {_output(10): 10}


def test_clear_forgets_every_id() -> None:
    ids = ArtifactIds()
    ids.learn({DATASET: 1, _output(1): 2})
    ids.clear()
    assert ids.lookup({DATASET, _output(1)}) == {}


def test_learning_again_makes_an_artifact_the_most_recently_used() -> None:
    ids = ArtifactIds(capacity=2)
    ids.learn({_output(1): 1, _output(2): 2})
    ids.learn({_output(1): 1})
    ids.learn({_output(3): 3})
    assert ids.lookup({_output(1), _output(2), _output(3)}) == {_output(1): 1, _output(3): 3}
