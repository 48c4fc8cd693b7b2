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
    assert ids.get(DATASET) == 1
    assert [ids.get(_output(n)) for n in (7, 8, 9)] == [None, 9, 10]


def test_nothing_is_forgotten_below_capacity() -> None:
    ids = ArtifactIds(capacity=10)
    ids.learn({_output(n): n for n in range(10)})
    assert [ids.get(_output(n)) for n in range(10)] == list(range(10))
    ids.learn({_output(10): 10})
    assert ids.get(_output(0)) is None
    assert ids.get(_output(10)) == 10


def test_clear_forgets_every_id() -> None:
    ids = ArtifactIds()
    ids.learn({DATASET: 1, _output(1): 2})
    ids.clear()
    assert (ids.get(DATASET), ids.get(_output(1))) == (None, None)
