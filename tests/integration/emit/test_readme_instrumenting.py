"""The README's "Instrumenting ML code" snippets run as written against the real broker.

The snippets are read from README.md, not copied here, so the README cannot drift from what
works. ``train`` and ``predict`` stand for the user's own code, as the README says.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.emit_consume import consume_events

from provledger.config import KafkaSettings
from provledger.emit import bytes_digest, file_digest, tree_digest
from provledger.events import EventType

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = "## Instrumenting ML code"


def _snippets() -> list[str]:
    text = README.read_text("utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.find("\n## ", len(SECTION))]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def workspace(tmp_path: Path, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with training data, and the environment pointing at the test broker."""
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "shard-0.csv").write_text("x,y\n1,0\n")
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROVLEDGER_KAFKA_BOOTSTRAP", kafka_settings.require_kafka_bootstrap())
    monkeypatch.setenv("PROVLEDGER_TOPIC_EVENTS", kafka_settings.topic_events)
    return tmp_path


def _train(data: str) -> str:
    model = Path("out/resnet50.pt")
    model.write_bytes(b"weights trained on " + data.encode())
    return str(model)


def _predict(payload: bytes) -> bytes:
    return b"cat" if b"whiskers" in payload else b"dog"


async def test_the_readme_snippets_are_short_and_record_what_they_say(
    workspace: Path, kafka_settings: KafkaSettings
) -> None:
    training, serving = _snippets()
    for snippet in (training, serving):
        assert len([line for line in snippet.splitlines() if line.strip()]) < 10

    await asyncio.to_thread(exec, training, {"train": _train})
    names: dict[str, Any] = {"predict": _predict}
    exec(serving, names)

    async def requests() -> AsyncIterator[tuple[str, bytes]]:
        for request_id, payload in [("r1", b"whiskers and paws"), ("r2", b"a wagging tail")]:
            yield request_id, payload

    await names["serve"](requests())

    events = await consume_events(kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, 4)
    start, complete, *inferences = sorted(events, key=lambda e: e.event_time)
    assert (start.event_type, complete.event_type) == (EventType.START, EventType.COMPLETE)
    assert [(a.name, a.digest) for a in complete.inputs] == [("train", tree_digest(workspace / "data/train"))]
    model_digest = file_digest(workspace / "out/resnet50.pt")
    assert [(a.name, a.kind, a.digest) for a in complete.outputs] == [("resnet50.pt", "model", model_digest)]
    assert [e.event_type for e in inferences] == [EventType.INFERENCE] * 2
    assert all(e.inputs[0].digest == model_digest for e in inferences)
    assert [dict(e.attributes)["request_id"] for e in inferences] == ["r1", "r2"]
    # Salted commitments: a guessed answer's plain digest does not match what the ledger holds.
    assert inferences[0].outputs[0].digest != bytes_digest(b"cat")
    assert dict(inferences[0].attributes)["digest.method"] == "hmac-sha256"
