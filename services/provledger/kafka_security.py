"""How every provledger Kafka client authenticates and encrypts: one mapping from the settings.

Whoever reaches the brokers without credentials can read every event and write records the
sealer trusts the topics for (events, dead letters), bypassing the API's tokens. So each client
(the SDK's producer, the API's publisher, the sealer's Faust app and dead-letter producer, the
anchorer's checkpoints topic, the audit's reader) takes its security options from here, built
from ``PROVLEDGER_KAFKA_SECURITY_PROTOCOL`` and its companions (:class:`~provledger.config.KafkaSettings`):

- ``SSL``: TLS to the brokers, verified against ``PROVLEDGER_KAFKA_SSL_CAFILE`` (else the system's
  roots), with a client certificate when ``..._SSL_CERTFILE`` and ``..._SSL_KEYFILE`` are given;
- ``SASL_SSL`` / ``SASL_PLAINTEXT``: SASL ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` as
  ``PROVLEDGER_KAFKA_SASL_USERNAME``, the password read from ``..._SASL_PASSWORD_FILE`` (secrets
  are files, never environment variables); PLAIN sends the password itself, so it is refused
  without TLS.

aiokafka clients take :func:`client_options` as keyword arguments; Faust takes
:func:`faust_credentials` as ``broker_credentials``. Faust turns those back into aiokafka options
with the same names, and a test holds the two to each other.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from provledger.config import KafkaSettings
from provledger.errors import ConfigurationError

#: Largest password file read: a password, not a document.
MAX_PASSWORD_FILE_BYTES = 4096


def read_password(path: Path) -> str:
    """The password in ``path``: its only line, without the newline; ConfigurationError otherwise."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PASSWORD_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the Kafka SASL password file {path}: {exc.strerror}. Point "
            "PROVLEDGER_KAFKA_SASL_PASSWORD_FILE at a readable file (a mounted secret)"
        ) from exc
    if len(data) > MAX_PASSWORD_FILE_BYTES:
        raise ConfigurationError(f"the Kafka SASL password file {path} is larger than a password")
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"the Kafka SASL password file {path} is not UTF-8 text") from exc
    if len(lines) != 1 or not lines[0]:
        raise ConfigurationError(
            f"the Kafka SASL password file {path} must hold the password on one line, and nothing else"
        )
    return lines[0]


def tls_context(settings: KafkaSettings) -> ssl.SSLContext:
    """A verifying TLS context: the operator's CA file (else the system's), and a client certificate."""
    try:
        context = ssl.create_default_context(
            cafile=None if settings.kafka_ssl_cafile is None else str(settings.kafka_ssl_cafile)
        )
        if settings.kafka_ssl_certfile is not None and settings.kafka_ssl_keyfile is not None:
            context.load_cert_chain(str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load the Kafka TLS files ({exc}): check PROVLEDGER_KAFKA_SSL_CAFILE, "
            "PROVLEDGER_KAFKA_SSL_CERTFILE and PROVLEDGER_KAFKA_SSL_KEYFILE (PEM files)"
        ) from exc
    return context


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """The security keyword arguments of an aiokafka client (producer, consumer, admin)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    if protocol.startswith("SASL_"):
        username, password_file = settings.kafka_sasl_username, settings.kafka_sasl_password_file
        if username is None or password_file is None:  # the settings' validator refuses this
            raise ConfigurationError(f"{protocol} needs a SASL username and password file")
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": read_password(password_file),
        }
    return options


def faust_credentials(settings: KafkaSettings) -> Any:
    """Faust's ``broker_credentials`` for the same connection as :func:`client_options` (None: plain)."""
    import faust

    options = client_options(settings)
    protocol = options["security_protocol"]
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        ssl_context=options.get("ssl_context"),
        mechanism=options["sasl_mechanism"],
    )
