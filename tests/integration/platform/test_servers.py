"""The real servers: Kafka carries records, every process started is stopped, Docker where it answers."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from tests.helpers.emit_consume import consume

from provledger.config import KafkaSettings
from provledger.local import LocalServers, local_servers
from provledger.local.containers import docker_engine_answers
from provledger.local.postgres import TUNING
from provledger.local.probes import kafka_answers, postgres_answers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_records_round_trip_through_the_broker(kafka_settings: KafkaSettings) -> None:
    bootstrap, topic = kafka_settings.require_kafka_bootstrap(), kafka_settings.topic_events
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [(f"run-{i % 3}".encode(), f"event {i}".encode()) for i in range(50)]
        for key, value in sent:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    received = await consume(bootstrap, topic, len(sent), lambda value: 1)
    assert sorted(received) == sorted(sent)
    for key in {k for k, _ in sent}:  # one key, one partition: order kept
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]


async def test_the_embedded_postgres_runs_with_its_write_heavy_settings(servers: LocalServers) -> None:
    if servers.postgres is None:
        pytest.skip(
            f"Postgres here is {servers.database_source}, not the embedded server these settings are for"
        )
    conn = await asyncpg.connect(servers.database_url)
    try:
        for setting in TUNING:
            name, value = setting.split("=")
            assert await conn.fetchval(f"SHOW {name}") == value
    finally:
        await conn.close()


@pytest.mark.slow
def test_embedded_servers_answer_then_leave_no_process(tmp_path: Path) -> None:
    with local_servers(data_dir=tmp_path, mode="embedded", durable=False) as running:
        assert running.postgres is not None
        assert running.postgres.process is not None
        assert running.kafka is not None
        assert running.kafka.process is not None
        pids = [running.postgres.process.pid, running.kafka.process.pid]
        assert all(_alive(pid) for pid in pids)
        postgres_answers(running.database_url)
        kafka_answers(running.kafka_bootstrap)
        database_url, bootstrap = running.database_url, running.kafka_bootstrap
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(ConnectionRefusedError):
        postgres_answers(database_url)
    with pytest.raises(ConnectionRefusedError):
        kafka_answers(bootstrap)


@pytest.mark.slow
def test_second_stack_gets_its_own_ports(tmp_path: Path) -> None:
    with (
        local_servers(data_dir=tmp_path / "a", mode="embedded", durable=False) as first,
        local_servers(data_dir=tmp_path / "b", mode="embedded", durable=False) as second,
    ):
        assert first.database_url != second.database_url
        assert first.kafka_bootstrap != second.kafka_bootstrap
        postgres_answers(second.database_url)
        kafka_answers(second.kafka_bootstrap)


@pytest.mark.docker
@pytest.mark.slow
def test_containers_when_a_docker_engine_answers(tmp_path: Path) -> None:
    if not docker_engine_answers():
        pytest.skip("no Docker engine answers on this machine; the testcontainers path runs where one does")
    with local_servers(data_dir=tmp_path, mode="containers") as running:
        assert (running.database_source, running.kafka_source) == ("container", "container")
        postgres_answers(running.database_url)
        kafka_answers(running.kafka_bootstrap)
