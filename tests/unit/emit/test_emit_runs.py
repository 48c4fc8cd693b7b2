"""Run and inference helpers build the events the ledger expects, and never carry raw data."""

from __future__ import annotations

import asyncio

import pytest

from provledger.emit.artifacts import artifact, bytes_digest, commitment
from provledger.emit.inference import InferenceLogger, SyncInferenceLogger
from provledger.emit.runs import AsyncRunRecorder, SyncRunRecorder
from provledger.events import Event, EventType, Job, decode_record, encode_record

PRODUCER = "https://example.com/trainer"
DATA = artifact(b"rows", kind="dataset", name="rows", namespace="vision")
MODEL = artifact(b"weights", kind="model", name="resnet", namespace="vision")


def test_a_run_emits_start_then_complete_with_what_it_used_and_produced() -> None:
    sent: list[Event] = []
    with SyncRunRecorder(sent.append, Job("vision", "train"), PRODUCER, attributes={"git": "abc"}) as run:
        run.used(DATA)
        run.running(outputs=[artifact(b"ckpt", kind="checkpoint", name="epoch-1")], attributes={"epoch": "1"})
        run.set_attribute("accuracy", "0.91")
        run.produced(MODEL)
    assert [e.event_type for e in sent] == [EventType.START, EventType.RUNNING, EventType.COMPLETE]
    assert {e.run for e in sent} == {run.run}
    assert sent[1].attributes == (("epoch", "1"), ("git", "abc"))
    complete = sent[-1]
    assert (complete.inputs, complete.outputs) == ((DATA,), (MODEL,))
    assert dict(complete.attributes) == {"accuracy": "0.91", "git": "abc"}
    assert decode_record(encode_record(sent)) == sent
    assert all(e.record_key() == run.run_id for e in sent)


def test_a_failing_run_emits_fail_with_the_exception_type_and_reraises() -> None:
    sent: list[Event] = []

    def train() -> None:
        with SyncRunRecorder(sent.append, Job("vision", "train"), PRODUCER) as run:
            run.used(DATA)
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        train()
    assert [e.event_type for e in sent] == [EventType.START, EventType.FAIL]
    assert dict(sent[1].attributes) == {"error.type": "builtins.ZeroDivisionError"}
    assert sent[1].inputs == (DATA,)


def test_an_interrupted_run_emits_abort() -> None:
    sent: list[Event] = []
    with pytest.raises(KeyboardInterrupt), SyncRunRecorder(sent.append, Job("vision", "train"), PRODUCER):
        raise KeyboardInterrupt
    assert [e.event_type for e in sent] == [EventType.START, EventType.ABORT]


async def test_the_async_run_emits_the_same_story() -> None:
    sent: list[Event] = []

    async def emit(event: Event) -> None:
        await asyncio.sleep(0)
        sent.append(event)

    async with AsyncRunRecorder(emit, Job("vision", "eval"), PRODUCER, parent_run_id=None) as run:
        run.used(MODEL)
        await run.running(attributes={"batch": "1"})
    with pytest.raises(ValueError, match="boom"):
        async with AsyncRunRecorder(emit, Job("vision", "eval"), PRODUCER, parent_run_id=run.run_id):
            raise ValueError("boom: secret row 42")
    kinds = [e.event_type for e in sent]
    assert kinds == [EventType.START, EventType.RUNNING, EventType.COMPLETE, EventType.START, EventType.FAIL]
    assert sent[-1].run.parent_run_id == run.run_id
    assert "secret" not in repr(sent[-1])  # the type, never the message


def test_inference_records_digests_keyed_by_model_and_never_the_data() -> None:
    sent: list[Event] = []
    logger = SyncInferenceLogger(sent.append, MODEL, Job("vision", "serve"), PRODUCER)
    logger.log("req-1", input=b"patient scan 7", output=b"benign")
    salt = bytes(range(32))
    logger.log(
        "req-2", input=b"patient scan 8", output=b"malignant", salt=salt, attributes={"latency_ms": "4"}
    )
    plain, salted = sent
    assert plain.event_type is EventType.INFERENCE
    assert plain.record_key() == MODEL.digest
    assert plain.inputs[0] == MODEL
    assert plain.inputs[1].digest == bytes_digest(b"patient scan 7")
    assert plain.outputs[0].digest == bytes_digest(b"benign")
    assert (plain.inputs[1].kind, plain.outputs[0].kind) == ("input", "prediction")
    assert dict(plain.attributes) == {"digest.method": "sha256", "request_id": "req-1"}
    assert salted.inputs[1].digest == commitment(b"patient scan 8", salt)
    assert salted.outputs[0].digest == commitment(b"malignant", salt)
    assert dict(salted.attributes)["digest.method"] == "hmac-sha256"
    assert plain.run == salted.run
    wire = encode_record(sent)
    for secret in (b"patient", b"benign", b"malignant", salt):
        assert secret not in wire


async def test_the_async_inference_logger_and_its_model_check() -> None:
    sent: list[Event] = []

    async def emit(event: Event) -> None:
        sent.append(event)

    await InferenceLogger(emit, MODEL, Job("vision", "serve"), PRODUCER).log("r", input=b"i", output=b"o")
    assert [e.event_type for e in sent] == [EventType.INFERENCE]
    with pytest.raises(ValueError, match="kind 'model'"):
        SyncInferenceLogger(print, DATA, Job("vision", "serve"), PRODUCER)
