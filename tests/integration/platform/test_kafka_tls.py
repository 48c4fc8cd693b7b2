"""Every provledger Kafka client speaks TLS to the brokers when told to, and checks whom it talks to.

Against a real broker behind a real TLS terminator (``tests/helpers/kafka_tls.py``): the settings'
options reach aiokafka's clients (the SDK's producer, the checkpoints topic the anchorer and the
audit use), a broker certificate from another CA is refused, and with mutual TLS a client
without its certificate is refused. SASL cannot be tried against this broker (Tansu 0.6 keeps
SCRAM users only in a store that forgets them on restart, and creating one needs the
authentication it would enable), so the SASL options are tested down to the client objects in
``tests/unit/platform/test_kafka_security.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from tests.helpers.kafka_tls import broker_behind_tls, make_pki

from provledger.anchor.topic import CheckpointTopic
from provledger.config import KafkaSettings, load
from provledger.errors import ServiceUnavailable
from provledger.kafka_security import client_options
from provledger.local.probes import kafka_answers
from provledger.local.topics import ingest_partitions

NOTE = "ledger.test/heads\n1\nAAAA\n\n— ledger.test/anchorer AAAA\n"


def _settings(bootstrap: str, **tls: Path) -> KafkaSettings:
    return load(KafkaSettings, kafka_bootstrap=bootstrap, kafka_security_protocol="SSL",
                **{f"kafka_ssl_{name}": path for name, path in tls.items()})  # fmt: skip


async def _round_trip(settings: KafkaSettings) -> None:
    """Publish a record through the checkpoints topic and read it back, both over the settings' TLS."""
    topic = CheckpointTopic(settings.require_kafka_bootstrap(), "tls.checkpoints", "tls-test",
                            client_options(settings))  # fmt: skip
    try:
        await topic.publish(1, "ledger.test", NOTE)
        async with topic.history() as records:
            offsets = [offset async for offset, _ in records]
    finally:
        await topic.stop()
    assert offsets == [0]


async def test_clients_reach_the_broker_over_verified_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    async with broker_behind_tls(tmp_path, pki) as bootstrap:
        await _round_trip(_settings(bootstrap, cafile=pki.ca))


async def test_a_broker_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    pki, stranger = make_pki(tmp_path / "pki"), make_pki(tmp_path / "other")
    async with broker_behind_tls(tmp_path, pki) as bootstrap:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                    **client_options(_settings(bootstrap, cafile=stranger.ca)))  # fmt: skip
        with pytest.raises(KafkaConnectionError):
            await producer.start()
        await producer.stop()
        topic = CheckpointTopic(bootstrap, "tls.checkpoints", "tls-test",
                                client_options(_settings(bootstrap, cafile=stranger.ca)))  # fmt: skip
        with pytest.raises(ServiceUnavailable):
            await topic.last_published()


async def test_mutual_tls_needs_the_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    async with broker_behind_tls(tmp_path, pki, client_ca=True) as bootstrap:
        await _round_trip(
            _settings(bootstrap, cafile=pki.ca, certfile=pki.client_cert, keyfile=pki.client_key)
        )
        anonymous = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                     **client_options(_settings(bootstrap, cafile=pki.ca)))  # fmt: skip
        with pytest.raises(KafkaConnectionError):
            await anonymous.start()
        await anonymous.stop()


async def test_up_probes_and_makes_topics_through_tls(tmp_path: Path) -> None:
    # `provledger up` with an external broker: the readiness probe and the ingest topics it creates.
    pki = make_pki(tmp_path / "pki")
    async with broker_behind_tls(tmp_path, pki) as bootstrap:
        options = client_options(_settings(bootstrap, cafile=pki.ca))
        await asyncio.to_thread(kafka_answers, bootstrap, options)
        assert await ingest_partitions(bootstrap, ["tls.events", "tls.openlineage"], options) == 8
        with pytest.raises(ServiceUnavailable):
            await ingest_partitions(bootstrap, ["tls.events"], {})  # plaintext to a TLS port
