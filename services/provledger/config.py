"""Settings of every provledger service, read once from ``PROVLEDGER_*`` variables.

Each service builds one frozen settings object at start-up with :func:`load`, which turns
pydantic's validation errors into a :class:`~provledger.errors.ConfigurationError` naming the
environment variable to fix, and logs the values once with secrets masked::

    >>> from provledger.config import KafkaSettings, load
    >>> load(KafkaSettings, kafka_bootstrap="127.0.0.1:9092").topic_events
    'provledger.events'

Secrets (signing keys, API tokens) are never values here, only paths to files or mounted
Kubernetes secrets, so nothing secret sits in the environment or the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from provledger.errors import ConfigurationError
from provledger.events.limits import DEFAULT_MAX_RECORD_BYTES

ENV_PREFIX = "PROVLEDGER_"

#: Where ``provledger up`` keeps the embedded Postgres data, the development key and logs.
DEFAULT_DATA_DIR = Path(".provledger")


class ProvledgerSettings(BaseSettings):
    """Common base: the ``PROVLEDGER_`` prefix, immutability, and logging knobs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", validate_default=True
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level of log record written to stderr."
    )
    log_format: Literal["json", "console"] = Field(
        "json", description="json for machines (the default), console for people at a terminal."
    )


class DatabaseSettings(ProvledgerSettings):
    """Where the ledger's Postgres is, and the file holding this service's login password.

    Each service connects with its own login (issue 19: the sealer's, the anchorer's, the API's
    ``provledger_reader`` member, the migrator), and its password comes from a file (a mounted
    Kubernetes Secret, or one ``provledger up`` wrote with mode 0600), never from the
    environment: :meth:`require_database_url` reads it when the service connects and puts it in
    the DSN it returns, which nothing logs (the settings log masks ``database_url``).
    """

    database_url: SecretStr | None = Field(
        None,
        description="postgresql:// DSN of the ledger database; unset means `provledger up` starts an "
        "embedded server. The services themselves require it. Put the password in "
        "PROVLEDGER_DATABASE_PASSWORD_FILE, not here.",
    )
    database_password_file: Path | None = Field(
        None,
        description="File holding the database login's password (one line; a mounted secret), read "
        "when the service connects. The DSN must then carry a user name and no password.",
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// or postgres:// DSN")
        return value

    @field_validator("database_password_file")
    @classmethod
    def _one_password_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        url = info.data.get("database_url")
        if value is None or not isinstance(url, SecretStr):
            return value
        parts = urlsplit(url.get_secret_value())
        if parts.password is not None:
            raise ValueError(
                f"{ENV_PREFIX}DATABASE_URL carries a password too: keep it only in the file, "
                "so it never sits in the environment"
            )
        if not parts.username:
            raise ValueError(f"{ENV_PREFIX}DATABASE_URL must name the login whose password the file holds")
        return value

    def require_database_url(self) -> str:
        """The DSN, with the password file's password in it if one is set; else an error saying what to do."""
        if self.database_url is None:
            raise ConfigurationError(
                f"{ENV_PREFIX}DATABASE_URL is not set: point it at the ledger's Postgres "
                "(postgresql://user@host:5432/db, password in PROVLEDGER_DATABASE_PASSWORD_FILE), "
                "or run `provledger up` for a local stack."
            )
        dsn = self.database_url.get_secret_value()
        if self.database_password_file is None:
            return dsn
        return with_password(dsn, read_password_file(self.database_password_file))


def read_password_file(path: Path) -> str:
    """The password in ``path`` (one line; a trailing newline is not part of it), never echoed in errors."""
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{ENV_PREFIX}DATABASE_PASSWORD_FILE: cannot read {path} ({type(exc).__name__}): "
            "mount the login's secret there"
        ) from None
    if not password or "\n" in password:
        raise ConfigurationError(
            f"{ENV_PREFIX}DATABASE_PASSWORD_FILE: {path} must hold the password on exactly one line"
        )
    return password


def with_password(dsn: str, password: str) -> str:
    """``dsn`` (which names a user and no password) with ``password`` percent-encoded into it."""
    parts = urlsplit(dsn)
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo}:{quote(password, safe='')}@{host}"))


class KafkaSettings(ProvledgerSettings):
    """Where the Kafka cluster is and what the topics are called."""

    kafka_bootstrap: str | None = Field(
        None,
        description="Comma-separated host:port list of Kafka brokers; unset means `provledger up` "
        "starts an embedded Kafka-compatible broker. The services themselves require it.",
    )
    kafka_client_id: str = Field("provledger", description="Client id sent to the brokers, for their logs.")
    topic_events: str = Field("provledger.events", description="Native Avro EventBatch records.")
    topic_openlineage: str = Field("provledger.openlineage", description="OpenLineage Kafka transport JSON.")
    topic_dead_letter: str = Field("provledger.dead-letter", description="Rejected records with reasons.")
    topic_checkpoints: str = Field(
        "provledger.checkpoints", description="Checkpoints the anchorer publishes."
    )
    max_record_bytes: int = Field(
        DEFAULT_MAX_RECORD_BYTES,
        ge=64 << 10,
        le=64 << 20,
        description="Largest Kafka record value, one limit for all: the SDK's batches and the API's "
        "OpenLineage records are at most this, the sealer dead-letters larger ones as oversized without "
        "decoding them, and its dead-letter producer sends records this large. The default is Kafka's "
        "default message.max.bytes; raise it only with the brokers' and topics' limits.",
    )

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How every client reaches the brokers: PLAINTEXT (a trusted network only), SSL (TLS), "
        "SASL_SSL (TLS and SASL credentials), SASL_PLAINTEXT (SASL without TLS).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism; PLAIN sends the password itself, so only over TLS."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name (SASL_* protocols).")
    kafka_sasl_password_file: Path | None = Field(
        None, description="File holding the SASL password on one line (a mounted secret; SASL_* protocols)."
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="PEM CA certificates the brokers' TLS certificates must chain to (else the system's).",
    )
    kafka_ssl_certfile: Path | None = Field(None, description="PEM client certificate, for brokers that ask.")
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM key of the client certificate.")

    @model_validator(mode="after")
    def _security_complete(self) -> KafkaSettings:
        """Refuse a security setting that would be silently ignored or send a password in clear."""
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        tls = protocol in ("SSL", "SASL_SSL")
        prefix = ENV_PREFIX + "KAFKA_"
        if sasl and (self.kafka_sasl_username is None or self.kafka_sasl_password_file is None):
            raise ValueError(f"{protocol} needs {prefix}SASL_USERNAME and {prefix}SASL_PASSWORD_FILE")
        if not sasl and (self.kafka_sasl_username is not None or self.kafka_sasl_password_file is not None):
            raise ValueError(f"SASL credentials are set but {prefix}SECURITY_PROTOCOL is {protocol}: "
                             "use SASL_SSL, or remove them")  # fmt: skip
        if protocol == "SASL_PLAINTEXT" and self.kafka_sasl_mechanism == "PLAIN":
            raise ValueError("SASL PLAIN without TLS sends the password in clear: use SASL_SSL or SCRAM")
        files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        if not tls and any(f is not None for f in files):
            raise ValueError(
                f"TLS files are set but {prefix}SECURITY_PROTOCOL is {protocol}: use SSL or SASL_SSL"
            )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError(f"{prefix}SSL_CERTFILE and {prefix}SSL_KEYFILE go together")
        return self

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_port_list(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for address in value.split(","):
            host, sep, port = address.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{address.strip()!r} is not host:port")
        return value

    def require_kafka_bootstrap(self) -> str:
        """The bootstrap list, or an error telling the operator how to provide one."""
        if self.kafka_bootstrap is None:
            raise ConfigurationError(
                f"{ENV_PREFIX}KAFKA_BOOTSTRAP is not set: point it at your brokers (host:9092[,host2:9092]), "
                "or run `provledger up` for a local stack."
            )
        return self.kafka_bootstrap


class LedgerIdentitySettings(ProvledgerSettings):
    """Who this ledger is: the origin line of its checkpoints and the log_id in every header."""

    log_origin: str = Field(
        "provledger.local/ledger",
        min_length=1,
        max_length=255,
        pattern=r"^[^\s+]+$",
        description="Stable name of this ledger instance (C2SP checkpoint origin, e.g. "
        "ledger.example.com/ml). log_id in block headers is the first 16 bytes of its SHA-256.",
    )


class SealerSettings(DatabaseSettings, KafkaSettings, LedgerIdentitySettings):
    """``provledger sealer``: consume event topics, seal blocks into Postgres."""

    signing_key_file: Path | None = Field(
        None, description="PEM file (or mounted Kubernetes secret) of the Ed25519 block-signing key."
    )
    signing_key_name: str = Field("provledger", description="Key name, as in C2SP verifier keys.")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Port of /metrics, /healthz, /readyz.")
    consumer_group: str = Field("provledger-sealer", description="Kafka consumer group of the sealers.")
    session_timeout_s: float = Field(
        10.0,
        gt=1,
        le=300,
        description="Consumer-group session and rebalance timeout: how soon a dead "
        "sealer's shards move to a live one.",
    )
    batch_max_records: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Most Kafka records taken per batch (each may hold up to 1000 events); one batch is "
        "decoded while the one before it is written. The sealer takes fewer when max_record_bytes is large, "
        "so that a batch and the two Faust buffers ahead of it fit in 48 MiB of the largest records "
        "(16 at the 1 MiB default): a flood of refused 1 MiB records then peaks at ~230 MiB RSS "
        "(benchmarks/bench_flood.py).",
    )
    block_interval_ms: int = Field(
        250,
        ge=0,
        le=60_000,
        description="Least time between two writes of blocks: what is decoded meanwhile is sealed together, "
        "one block per shard. Bounds the blocks written per second (each costs a dozen round trips to "
        "Postgres) at the price of up to this much seal latency.",
    )
    max_pending_events: int = Field(
        20_000,
        ge=1,
        le=10_000_000,
        description="Decoded events that may wait for the next write; reaching it writes them as soon as "
        "the write in flight ends and stops taking records until then, which bounds the sealer's memory.",
    )
    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=30_000,
        description="Longest a fetch waits at the broker for records. Faust asks for 1500 ms, and a broker "
        "that does not answer early (Tansu) then holds records back for up to that long.",
    )
    batch_linger_ms: int = Field(
        50,
        ge=1,
        le=60_000,
        description="How long a take of records waits to fill before it is decoded anyway; blocks are "
        "bounded by block_interval_ms, not by this.",
    )
    write_connections: int = Field(
        1,
        ge=1,
        le=64,
        description="Postgres connections one sealer writes blocks on at once (its shards take turns). "
        "Blocks of several shards written at once contend in Postgres for the same index pages and WAL: "
        "with 4 shards on one shared 2-core machine, 4 connections cost Postgres 17.9 us of CPU per event "
        "and 1 cost 13.6 us, and 2 sealer replicas sealed 47,000 events/s instead of 57,000 "
        "(benchmarks/bench_seal.py). Raise it when Postgres has cores to spare and latency matters more.",
    )

    def require_signing_key_file(self) -> Path:
        """The key path, or an error telling the operator how to provide one."""
        if self.signing_key_file is None:
            raise ConfigurationError(
                f"{ENV_PREFIX}SIGNING_KEY_FILE is not set: the sealer signs every block and will not start "
                "without a key. Create one with `provledger keys generate --out sealer.pem` and point the "
                "variable at it (in Kubernetes, mount it from a secret)."
            )
        return self.signing_key_file


class AnchorScheduleSettings(ProvledgerSettings):
    """How often statements are anchored: the anchorer's pace, and what the API tells about it.

    The API reads the same variable to say in an unanchored evidence bundle when the next
    statement is due (``next_anchor_due``), so both MUST be given the same value.
    """

    anchor_interval_s: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="Seconds between two rounds: check every shard, sign a statement if a head moved, "
        "publish it, anchor it. Also how often a standby replica tries to take over, and what the API "
        "adds to the newest statement's time to say when an unanchored bundle's anchor is due.",
    )


class AnchorerSettings(DatabaseSettings, KafkaSettings, LedgerIdentitySettings, AnchorScheduleSettings):
    """``provledger anchorer``: check the shards only grew, sign shard-heads statements, anchor them."""

    anchor_heartbeat_s: float = Field(
        86_400.0,
        gt=0,
        description="A statement is signed and anchored at least this often even when no head moved, "
        "so its anchors keep proving the heads were current.",
    )
    anchorer_key_file: Path | None = Field(
        None,
        description="PEM file (or mounted Kubernetes secret) of the anchorer's own Ed25519 key; never the "
        "sealer's: a stolen sealer key alone must not be able to forge anchors.",
    )
    anchorer_key_name: str = Field(
        "provledger-anchorer", description="The anchorer key's name, as in C2SP verifier keys."
    )
    anchor_kinds: str = Field(
        "",
        pattern=r"^[a-z0-9-]*(,[a-z0-9-]+)*$",
        description="Comma-separated anchor kinds to submit every statement to (e.g. rfc3161); empty means "
        "statements are only stored and published to the checkpoints topic.",
    )
    metrics_port: int = Field(9465, ge=0, le=65535, description="Port of /metrics, /healthz, /readyz.")

    def kind_names(self) -> tuple[str, ...]:
        """The configured anchor kinds, in order, each once."""
        return tuple(dict.fromkeys(name for name in self.anchor_kinds.split(",") if name))

    def require_anchorer_key_file(self) -> Path:
        """The key path, or an error telling the operator how to provide one."""
        if self.anchorer_key_file is None:
            raise ConfigurationError(
                f"{ENV_PREFIX}ANCHORER_KEY_FILE is not set: the anchorer signs every statement with its own "
                "key. Create one with `provledger keys generate --out anchorer.pem --name <name>` and point "
                "the variable at it (in Kubernetes, mount it from a secret)."
            )
        return self.anchorer_key_file


class StackSettings(DatabaseSettings, KafkaSettings):
    """``provledger up``: the all-in-one local stack."""

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Embedded Postgres data, development key and logs.")
    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8080, ge=0, le=65535, description="Port the API listens on (0 picks a free one).")


class ApiSettings(DatabaseSettings, KafkaSettings, LedgerIdentitySettings, AnchorScheduleSettings):
    """``provledger api``: the HTTP API (reads, evidence, tlog tiles, OpenLineage ingest)."""

    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8080, ge=0, le=65535, description="Port the API listens on (0 picks a free one).")
    tokens_file: Path | None = Field(
        None,
        description="JSON-lines file of API token hashes (`provledger tokens create` appends to it). "
        "Unset means no token is valid: only public reads (if enabled) are answered.",
    )
    public_reads: bool = Field(
        False, description="Answer read endpoints without a token; ingest and admin still need one."
    )
    api_docs: bool = Field(
        False,
        description="Serve the interactive API documentation at /docs. Off by default: its page loads "
        "swagger-ui from a public CDN (jsDelivr) at view time. /openapi.json is always served.",
    )
    request_timeout_s: float = Field(
        15.0, gt=0, le=300, description="A request still unanswered after this gets 503 instead of hanging."
    )
    db_statement_timeout_ms: int = Field(
        5000, ge=10, le=600_000, description="Postgres statement_timeout of the API's sessions."
    )
    db_command_timeout_s: float = Field(
        6.0, gt=0, le=600, description="Client-side limit on one database call (covers a dead server)."
    )
    db_connect_timeout_s: float = Field(3.0, gt=0, le=60, description="Limit on opening a connection.")
    db_pool_max: int = Field(10, ge=1, le=200, description="Most Postgres connections the API holds.")
    kafka_ack_timeout_s: float = Field(
        10.0, gt=0, le=300, description="How long ingest waits for the broker's acknowledgement."
    )
    max_ingest_bytes: int = Field(
        8 << 20,
        ge=1024,
        le=64 << 20,
        description="Largest OpenLineage ingest body, on the wire and after gzip decompression (413 beyond). "
        "8 MiB holds a batch of 1000 RunEvents of ~8 KB (or several of the 1 MiB one RunEvent may be); a "
        "body being handled costs 3-6x its size in memory, and larger bodies add no throughput.",
    )
    large_ingest_slots: int = Field(
        2,
        ge=1,
        le=16,
        description="Most ingest bodies over 64 KiB read and validated at once, each in a worker thread off "
        "the event loop, so ingest's memory is bounded whatever the number of clients; another waits up to "
        "1 s for a slot, then gets 503 with Retry-After. Validating is CPU-bound under the GIL, so more "
        "slots add memory, not throughput; two keep one slow upload from holding up the rest.",
    )


S = TypeVar("S", bound=ProvledgerSettings)


def load(settings_class: type[S], **overrides: Any) -> S:
    """Build ``settings_class`` from the environment (and explicit overrides), or fail naming the variable."""
    try:
        return settings_class(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from exc


def masked(settings: ProvledgerSettings) -> dict[str, Any]:
    """The settings as plain JSON values with every secret replaced by asterisks, for the start-up log."""
    return settings.model_dump(mode="json")
