"""Postgres and Apache Kafka (KRaft) in Docker via testcontainers, where a Docker engine answers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provledger.errors import ServiceUnavailable
from provledger.local.probes import kafka_answers, postgres_answers
from provledger.local.process import free_port

POSTGRES_IMAGE = "postgres:17-alpine"
KAFKA_IMAGE = "apache/kafka:3.9.1"
START_TIMEOUT_S = 120.0


def docker_engine_answers() -> bool:
    """True when a Docker engine (not just the client) answers a ping."""
    docker_host = os.environ.get("DOCKER_HOST", "")
    if not docker_host and not Path("/var/run/docker.sock").exists():
        return False  # the docker package would leak a socket finding that out
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, no daemon, no docker package: all mean "not here"
        return False


def _wait(probe: Callable[[], None], container: Any, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            probe()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                logs = b"".join(part for part in container.get_logs() if part)[-4000:]
                container.stop()
                tail = logs.decode(errors="replace")
                raise ServiceUnavailable(
                    f"{what} did not answer within {START_TIMEOUT_S:.0f} s: {exc!r}\n{tail}"
                ) from exc
            time.sleep(0.5)


def start_postgres_container() -> tuple[str, Callable[[], None]]:
    """Start the official Postgres image; return its DSN and a stop function."""
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    )
    container.start()
    url = container.get_connection_url()
    _wait(lambda: postgres_answers(url), container, f"{POSTGRES_IMAGE} container")
    return url, container.stop


def start_kafka_container() -> tuple[str, Callable[[], None]]:
    """Start the official Apache Kafka image as a single KRaft node; return bootstrap and a stop function.

    The advertised listener must name the host port, so we choose that port before start
    instead of letting Docker pick one.
    """
    from testcontainers.core.container import DockerContainer

    host_port = free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, host_port)
        .with_envs(
            KAFKA_NODE_ID="1",
            KAFKA_PROCESS_ROLES="broker,controller",
            KAFKA_LISTENERS="PLAINTEXT://:9092,CONTROLLER://:9093",
            KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://127.0.0.1:{host_port}",
            KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
            KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
            KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
        )
    )
    container.start()
    bootstrap = f"127.0.0.1:{host_port}"
    _wait(lambda: kafka_answers(bootstrap), container, f"{KAFKA_IMAGE} container")
    return bootstrap, container.stop
