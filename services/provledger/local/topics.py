"""The ingest topics of a local stack, made before the sealer starts so their partitions are known.

A shard is one partition of one ingested topic, numbered in the order the sealer first meets it
(``shards.shard`` is an identity column), so the shard numbers a local stack can ever have are
``0 .. n-1`` for ``n`` the partitions of all its ingest topics together. Witnesses must be told
each shard's origin in advance (their logs file), hence :func:`ingest_partitions` makes the
topics that do not exist yet, with :data:`LOCAL_PARTITIONS` partitions as the embedded broker
would on first produce, and counts the partitions of all of them::

    shards = run_blocking(lambda: ingest_partitions("127.0.0.1:9092", ("provledger.events",)))
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from provledger.errors import ServiceUnavailable

#: Partitions of an ingest topic the local stack creates: what Tansu gives a topic made on first
#: produce, so a stack whose topics come from either way has the same shards.
LOCAL_PARTITIONS: Final = 4
#: A local broker's single node holds every replica.
LOCAL_REPLICATION: Final = 1
TIMEOUT_MS: Final = 10_000


async def _partitions(bootstrap: str, topics: Sequence[str], security: Mapping[str, Any]) -> dict[str, int]:
    """Partitions per topic the broker's metadata names (0 for a topic it does not know)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS, **security)
    try:
        await consumer.start()
        await consumer.topics()  # refreshes the metadata of every topic
        return {topic: len(consumer.partitions_for_topic(topic) or ()) for topic in topics}
    finally:
        await consumer.stop()


async def ingest_partitions(
    bootstrap: str, topics: Sequence[str], security: Mapping[str, Any] | None = None
) -> int:
    """Create the missing ``topics`` (:data:`LOCAL_PARTITIONS` each) and return their partitions in all.

    ``security``: the clients' TLS and SASL options (:func:`provledger.kafka_security.client_options`).
    """
    security = security or {}
    try:
        counts = await _partitions(bootstrap, topics, security)
        missing = [topic for topic, count in counts.items() if count == 0]
        if missing:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS, **security
            )
            try:
                await admin.start()
                # Another client may create one in between: the broker's count is read again below.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [NewTopic(topic, LOCAL_PARTITIONS, LOCAL_REPLICATION) for topic in missing]
                    )
            finally:
                await admin.close()
            counts = await _partitions(bootstrap, topics, security)
    except KafkaError as exc:
        raise ServiceUnavailable(
            f"cannot read or create the topics {list(topics)} at {bootstrap}: {exc!r}"
        ) from exc
    if unknown := [topic for topic, count in counts.items() if count == 0]:
        raise ServiceUnavailable(
            f"the broker at {bootstrap} made the topics {unknown} but names no partition of them"
        )
    return sum(counts.values())
