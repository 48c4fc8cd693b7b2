"""Kafka security settings: refused when incomplete or unsafe, mapped alike for aiokafka and Faust.

SASL is tested down to the client objects here: the development broker cannot run SASL for a
test (``tests/integration/platform/test_kafka_tls.py`` says why); TLS also runs for real there.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from tests.helpers.kafka_tls import make_pki

from provledger.config import KafkaSettings, load
from provledger.errors import ConfigurationError
from provledger.kafka_security import client_options, faust_credentials, read_password


def _settings(**values: Any) -> KafkaSettings:
    return load(KafkaSettings, kafka_bootstrap="127.0.0.1:9092", **values)


_PLAIN_IN_CLEAR = {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
                   "kafka_sasl_username": "u", "kafka_sasl_password_file": Path("p")}  # fmt: skip


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "kafka-password"
    path.write_text("s3cret-with spaces\n")
    return path


def test_plaintext_by_default_adds_nothing_but_the_protocol() -> None:
    assert client_options(_settings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(_settings()) is None


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs PROVLEDGER_KAFKA_SASL_USERNAME"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"}, "SASL_PASSWORD_FILE"),
        ({"kafka_sasl_username": "u"}, "SASL credentials are set but"),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "u",
                "kafka_sasl_password_file": Path("p"),
            },
            "password in clear",
        ),
        ({"kafka_ssl_cafile": Path("ca.pem")}, "TLS files are set but"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": Path("c.pem")}, "go together"),
        ({"kafka_security_protocol": "TLS"}, "PROVLEDGER_KAFKA_SECURITY_PROTOCOL"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI"},
            "PROVLEDGER_KAFKA_SASL_MECHANISM",
        ),
    ],
)
def test_incomplete_or_unsafe_settings_are_refused_naming_what_to_fix(
    values: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        _settings(**values)


def test_scram_over_tls_reaches_aiokafka_and_faust_alike(tmp_path: Path, password_file: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    settings = _settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256",
                         kafka_sasl_username="sealer", kafka_sasl_password_file=password_file,
                         kafka_ssl_cafile=pki.ca, kafka_ssl_certfile=pki.client_cert,
                         kafka_ssl_keyfile=pki.client_key)  # fmt: skip
    ours = client_options(settings)
    assert {k: v for k, v in ours.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "sealer",
        "sasl_plain_password": "s3cret-with spaces",
    }
    context = ours["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    faust = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert {k: v for k, v in faust.items() if k != "ssl_context"} == {
        k: v for k, v in ours.items() if k != "ssl_context"
    }
    assert isinstance(faust["ssl_context"], ssl.SSLContext)
    # aiokafka takes every option as given (a client is built inside a running loop).
    assert asyncio.run(_client_security(ours)) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
        "sealer",
        "s3cret-with spaces",
    )


async def _client_security(options: dict[str, Any]) -> tuple[str, str, str, str]:
    """What an aiokafka producer built with ``options`` will authenticate with."""
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092", **options)
    client = producer.client
    await producer.stop()
    return (client._security_protocol, client._sasl_mechanism, client._sasl_plain_username,
            client._sasl_plain_password)  # fmt: skip


def test_tls_alone_maps_to_faust_ssl_credentials(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    settings = _settings(kafka_security_protocol="SSL", kafka_ssl_cafile=pki.ca)
    faust = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert faust["security_protocol"] == "SSL"
    assert client_options(settings)["security_protocol"] == "SSL"


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "one line"), (b"a\nb\n", "one line"), (b"\xff\xfe", "not UTF-8"), (b"x" * 5000, "larger")],
)
def test_a_password_file_holds_one_line_of_text(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "password"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=reason):
        read_password(path)


def test_a_missing_password_file_says_which_setting(tmp_path: Path) -> None:
    settings = _settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u",
                         kafka_sasl_password_file=tmp_path / "absent")  # fmt: skip
    with pytest.raises(ConfigurationError, match="PROVLEDGER_KAFKA_SASL_PASSWORD_FILE"):
        client_options(settings)


def test_unreadable_tls_files_say_which_settings(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    settings = _settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "ca.pem")
    with pytest.raises(ConfigurationError, match="PROVLEDGER_KAFKA_SSL_CAFILE"):
        client_options(settings)


def test_the_sealers_faust_app_connects_with_the_settings_credentials(
    tmp_path: Path, password_file: Path
) -> None:
    from faust.auth import SASLCredentials

    from provledger.config import SealerSettings
    from provledger.ledger.keys import SigningKey
    from provledger.sealer.app import build_app

    pki = make_pki(tmp_path / "pki")
    settings = load(SealerSettings, kafka_bootstrap="127.0.0.1:9092", kafka_security_protocol="SASL_SSL",
                    kafka_sasl_username="sealer", kafka_sasl_password_file=password_file,
                    kafka_ssl_cafile=pki.ca)  # fmt: skip
    app, _ = build_app(settings, SigningKey.generate("fuzz.test/ledger"), tmp_path / "faust")
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, SASLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SASL_SSL"
    assert credentials.username == "sealer"
