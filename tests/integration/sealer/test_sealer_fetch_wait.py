"""The sealer's fetch wait reaches aiokafka's fetcher, whose private field it sets."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from provledger.config import KafkaSettings
from provledger.sealer.app import limit_fetch_wait


async def test_a_limited_fetch_wait_delivers_a_record_sent_to_an_idle_partition(
    kafka_settings: KafkaSettings,
) -> None:
    """Asked for a 30 s fetch wait, Tansu held the record back over 10 s; limited to 50 ms, it comes at once.

    On Kafka, which answers a waiting fetch when records arrive, both come at once and the field
    check alone guards the aiokafka internals the limit relies on.
    """
    bootstrap, topic = kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=30_000)
    await producer.start()
    first = await producer.send_and_wait(topic, b"first")  # creates the topic
    await consumer.start()
    try:
        limit_fetch_wait(consumer, 50)  # before the first fetch: none can still wait 30 s
        assert consumer._fetcher._fetch_max_wait_ms == 50
        partition = TopicPartition(topic, first.partition)
        consumer.assign([partition])
        consumer.seek(partition, first.offset + 1)
        await asyncio.sleep(1)  # fetches now wait at the broker
        await producer.send_and_wait(topic, b"second", partition=first.partition)
        record = await asyncio.wait_for(consumer.getone(), 10)
        assert record.value == b"second"
    finally:
        await consumer.stop()
        await producer.stop()
