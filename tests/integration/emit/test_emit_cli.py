"""``provledger emit`` and ``provledger demo`` as a user runs them, against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

from tests.helpers.emit_consume import consume_events

from provledger.config import KafkaSettings
from provledger.demo import story
from provledger.emit.artifacts import bytes_digest
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.events.native_json import event_to_json
from provledger.events.openlineage import to_openlineage


def _provledger(settings: KafkaSettings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PROVLEDGER_KAFKA_BOOTSTRAP": settings.require_kafka_bootstrap(),
        "PROVLEDGER_TOPIC_EVENTS": settings.topic_events,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "provledger", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _events(count: int) -> list[Event]:
    run = Run(str(uuid.uuid4()))
    return [
        Event.new(
            EventType.RUNNING,
            job=Job("tests", "cli"),
            run=run,
            producer="https://example.com/cli",
            outputs=[ArtifactRef("tests", f"ckpt-{i}", bytes_digest(bytes([i])), "checkpoint")],
        )
        for i in range(count)
    ]


async def test_emit_sends_good_lines_reports_bad_ones_and_fails(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Bad lines are named with the format they were read in, then what to do; the rest go through."""
    native = _events(4)
    jsonl = tmp_path / "events.jsonl"
    lines = [json.dumps(event_to_json(e)) for e in native[:2]]
    lines += ['{"event_type": "START"', json.dumps(event_to_json(native[2]) | {"producer": "no uri"})]
    lines += [json.dumps(event_to_json(native[3]))]
    jsonl.write_text("\n".join(lines) + "\n")
    ran = _provledger(kafka_settings, "emit", "--format", "native", str(jsonl))
    assert ran.returncode == 1, ran.stderr
    assert "events.jsonl: line 3: malformed_json" in ran.stderr
    assert "events.jsonl: line 4: read as a native event (--format native): bad_producer" in ran.stderr
    assert "to fix: write one JSON object per line" in ran.stderr
    assert "to fix: fix the events named above, or leave out --format native" in ran.stderr
    sent = [native[0], native[1], native[3]]
    received = await consume_events(kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, 3)
    assert received == sent


async def test_emit_tells_each_lines_format_from_its_keys(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Without --format, one JSON-lines file mixes native events and RunEvents, line by line."""
    events = _events(4)
    late = to_openlineage(_events(1)[0]) | {"eventTime": "yesterday"}
    lines = [event_to_json(events[0]), to_openlineage(events[1]), late]
    lines += [to_openlineage(events[2]), event_to_json(events[3])]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ran = _provledger(kafka_settings, "emit", str(mixed))
    assert ran.returncode == 1, ran.stderr
    assert (
        "mixed.jsonl: line 3: read as an OpenLineage RunEvent (it has schemaURL, eventTime, eventType, "
        "run.runId): bad_event_time: eventTime 'yesterday' is not ISO 8601"
    ) in ran.stderr
    assert "to fix: fix the RunEvents named above (OpenLineage spec 2-x)" in ran.stderr
    received = await consume_events(kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, 4)
    assert [(e.event_id, e.outputs) for e in received] == [(e.event_id, e.outputs) for e in events]


async def test_emit_reads_openlineage_from_stdin(kafka_settings: KafkaSettings) -> None:
    events = _events(3)
    array = json.dumps([to_openlineage(e) for e in events])
    ran = _provledger(kafka_settings, "emit", "--format", "openlineage", "-", stdin=array)
    assert ran.returncode == 0, ran.stderr
    assert "<stdin>" in ran.stderr
    received = await consume_events(kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, 3)
    assert [(e.event_id, e.outputs) for e in received] == [(e.event_id, e.outputs) for e in events]


def test_emit_refuses_an_unknown_format(kafka_settings: KafkaSettings) -> None:
    ran = _provledger(kafka_settings, "emit", "--format", "xml", "-")
    assert ran.returncode == 2
    assert "not one of native, openlineage; leave it out" in ran.stderr


def _upstream(artifact: ArtifactRef, events: list[Event]) -> set[ArtifactRef]:
    """Every artifact upstream of ``artifact`` through completed runs, the way lineage is read."""
    made_by: dict[ArtifactRef, list[Event]] = defaultdict(list)
    for event in events:
        if event.event_type is EventType.COMPLETE:
            for output in event.outputs:
                made_by[output].append(event)
    found: set[ArtifactRef] = set()
    frontier = [artifact]
    while frontier:
        for run in made_by[frontier.pop()]:
            for used in run.inputs:
                if used not in found and used != artifact:
                    found.add(used)
                    frontier.append(used)
    return found


async def test_demo_tells_the_whole_story_the_story_module_describes(kafka_settings: KafkaSettings) -> None:
    ran = _provledger(kafka_settings, "demo", "--duration", "1", "--inference-rate", "20")
    assert ran.returncode == 0, ran.stderr
    assert "federated round" in ran.stderr
    sent = int(ran.stderr.split("demo: ")[1].split(" events")[0])
    events = await consume_events(kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events, sent)
    assert len(events) == sent
    assert _upstream(story.DEMO_MODEL, events) == story.DEMO_MODEL_UPSTREAM
    assert _upstream(story.FL_GLOBAL_NEXT, events) == story.FL_GLOBAL_NEXT_UPSTREAM

    by_job: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_job[event.job.name].append(event)
    train = by_job["train-ctr"]
    assert sum(e.event_type is EventType.FAIL for e in train) == 1
    checkpoints = {o for e in train if e.event_type is EventType.RUNNING for o in e.outputs}
    assert story.BEST.checkpoint(story.BEST.epochs) in checkpoints
    inferences = by_job[story.SERVING_JOB]
    assert 20 <= len(inferences) <= 25
    assert all(e.event_type is EventType.INFERENCE and e.inputs[0] == story.DEMO_MODEL for e in inferences)
    methods = {dict(e.attributes)["digest.method"] for e in inferences}
    assert methods == {"sha256", "hmac-sha256"}
    pipeline = {e.run.run_id for e in by_job["ctr-pipeline"]}
    assert {e.run.parent_run_id for e in by_job["register-model"]} <= pipeline
    assert len({e.run.run_id for e in by_job["fl-client-train"]}) == story.FL_CLIENTS
