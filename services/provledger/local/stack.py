"""Choose and start the Postgres and Kafka servers a local run or a test session uses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from provledger.config import KafkaSettings, load
from provledger.errors import ServiceUnavailable
from provledger.kafka_security import client_options
from provledger.local.containers import docker_engine_answers, start_kafka_container, start_postgres_container
from provledger.local.kafka import EmbeddedKafka
from provledger.local.postgres import EmbeddedPostgres
from provledger.local.probes import kafka_answers, postgres_answers

Source = Literal["external", "container", "embedded"]
Mode = Literal["auto", "containers", "embedded"]


@dataclass(frozen=True)
class LocalServers:
    """Where the servers are, where each came from, and handles on the embedded ones."""

    database_url: str
    kafka_bootstrap: str
    database_source: Source
    kafka_source: Source
    postgres: EmbeddedPostgres | None = None
    kafka: EmbeddedKafka | None = None


def _check_external(probe_name: str, probe: object, address: str) -> None:
    try:
        probe(address)  # type: ignore[operator]
    except Exception as exc:
        raise ServiceUnavailable(
            f"the external {probe_name} at {address!r} does not answer ({exc!r}): check the address and that "
            "the server is up, or unset the variable to use a local server."
        ) from exc


@contextlib.contextmanager
def local_servers(
    *,
    data_dir: Path,
    database_url: str | None = None,
    kafka_bootstrap: str | None = None,
    mode: Mode = "auto",
    durable: bool = True,
) -> Iterator[LocalServers]:
    """Yield running servers, external where given, and stop every one we started on exit.

    ``mode`` forces the local kind: ``containers`` fails without a Docker engine, ``embedded``
    never asks Docker. ``durable=False`` lets test servers skip fsync.
    """
    with contextlib.ExitStack() as stack:
        wanted_local = database_url is None or kafka_bootstrap is None
        use_containers = wanted_local and mode != "embedded" and docker_engine_answers()
        if mode == "containers" and not use_containers and wanted_local:
            raise ServiceUnavailable("PROVLEDGER_LOCAL_SERVERS=containers but no Docker engine answers.")

        postgres: EmbeddedPostgres | None = None
        db_source: Source = "external"
        if database_url is not None:
            _check_external("Postgres (PROVLEDGER_DATABASE_URL)", postgres_answers, database_url)
        elif use_containers:
            database_url, stop = start_postgres_container()
            stack.callback(stop)
            db_source = "container"
        else:
            postgres = EmbeddedPostgres(
                data_dir / "postgres", data_dir / "logs" / "postgres.log", durable=durable
            )
            stack.callback(postgres.stop)
            postgres.start()
            database_url, db_source = postgres.database_url, "embedded"

        kafka: EmbeddedKafka | None = None
        kafka_source: Source = "external"
        if kafka_bootstrap is not None:
            security = client_options(load(KafkaSettings))  # an external broker may want TLS or SASL
            _check_external(
                "Kafka (PROVLEDGER_KAFKA_BOOTSTRAP)", lambda b: kafka_answers(b, security), kafka_bootstrap
            )
        elif use_containers:
            kafka_bootstrap, stop = start_kafka_container()
            stack.callback(stop)
            kafka_source = "container"
        else:
            kafka = EmbeddedKafka(data_dir / "logs" / "kafka.log")
            stack.callback(kafka.stop)
            kafka.start()
            kafka_bootstrap, kafka_source = kafka.bootstrap, "embedded"

        yield LocalServers(database_url, kafka_bootstrap, db_source, kafka_source, postgres, kafka)
