"""The OpenLineage Python client's own Kafka transport writes RunEvents that provledger decodes.

No provledger code produces here: the client and its transport (confluent-kafka) write to the
OpenLineage topic exactly as they would in a user's pipeline, content digests in our
``provledger_digest`` dataset facet; we read the records back with aiokafka.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import attr
from openlineage.client.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import DatasetFacet
from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport
from tests.helpers.emit_consume import consume

from provledger.config import KafkaSettings
from provledger.emit import bytes_digest
from provledger.events import EventType
from provledger.events.openlineage import DIGEST_FACET, DIGEST_FACET_SCHEMA_URL, from_openlineage

DATA_DIGEST = bytes_digest(b"imagenet shard 0")
MODEL_DIGEST = bytes_digest(b"resnet50 weights")


@attr.define
class ProvledgerDigestFacet(DatasetFacet):
    """What a pipeline author writes to pin a dataset by content (schema published by provledger)."""

    digest: str
    kind: str

    @staticmethod
    def _get_schema() -> str:
        return DIGEST_FACET_SCHEMA_URL


def _run_event(state: RunState, run_id: str) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=run_id),
        job=Job(namespace="vision", name="train-resnet"),
        producer="https://provledger.test/openlineage-kafka",
        inputs=[
            InputDataset(
                namespace="s3://lake",
                name="imagenet",
                facets={DIGEST_FACET: ProvledgerDigestFacet(digest=DATA_DIGEST, kind="dataset")},
            )
        ],
        outputs=[
            OutputDataset(
                namespace="models",
                name="resnet50",
                facets={DIGEST_FACET: ProvledgerDigestFacet(digest=MODEL_DIGEST, kind="model")},
            )
        ]
        if state is RunState.COMPLETE
        else [],
    )


async def test_openlineage_kafka_transport_records_decode(
    kafka_settings: KafkaSettings,
) -> None:
    transport = KafkaTransport(
        KafkaConfig(
            config={"bootstrap.servers": kafka_settings.require_kafka_bootstrap(), "acks": "all"},
            topic=kafka_settings.topic_openlineage,
            flush=True,
        )
    )
    client = OpenLineageClient(transport=transport)
    run_id = str(uuid.uuid4())
    sent = [_run_event(RunState.START, run_id), _run_event(RunState.COMPLETE, run_id)]
    for run_event in sent:
        client.emit(run_event)
    client.close()

    records = await consume(
        kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_openlineage, 2, lambda _: 1
    )
    assert len(records) == 2
    assert {key for key, _ in records} == {b"run:vision/train-resnet"}  # the transport's own key
    events = [from_openlineage(value) for _, value in records]
    assert [e.event_type for e in events] == [EventType.START, EventType.COMPLETE]
    assert {e.run.run_id for e in events} == {run_id}
    complete = events[1]
    assert [(a.namespace, a.name, a.digest, a.kind) for a in complete.inputs] == [
        ("s3://lake", "imagenet", DATA_DIGEST, "dataset")
    ]
    assert [(a.name, a.digest, a.kind) for a in complete.outputs] == [("resnet50", MODEL_DIGEST, "model")]
    # Nothing the client wrote is lost: the original RunEvent is kept whole.
    assert complete.openlineage is not None
    assert json.loads(complete.openlineage) == json.loads(records[1][1])
