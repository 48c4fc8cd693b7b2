"""``PROVLEDGER_WITNESS_*``: the witness's key, address, state (file or Postgres), and the logs it witnesses.

The logs file lists the logs a witness cosigns, one a line; ``#`` starts a comment, blank
lines are ignored, fields are separated by spaces or tabs::

    # log <origin> <verifier key> [<verifier key> ...]
    log provledger.local/ledger/shard/0 provledger+8f0c2a31+AXx...
    log provledger.local/ledger/shard/1 provledger+8f0c2a31+AXx...

An origin is the checkpoint's first line exactly (provledger's shard logs:
``<PROVLEDGER_LOG_ORIGIN>/shard/<n>``), without spaces; a verifier key is a C2SP signed-note
vkey of type Ed25519 (``provledger keys generate`` prints the sealer's). Unlike a C2SP
tlog-policy ``log <vkey>`` line, the origin is written out, because one provledger key signs
the checkpoints of every shard, and its name is not their origin.

    >>> text = "log example.com/log PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\\n"
    >>> [(origin, [k.name for k in keys]) for origin, keys in parse_logs(text, "logs.txt").items()]
    [('example.com/log', ['PeterNeumann'])]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from provledger.config import DEFAULT_DATA_DIR, ENV_PREFIX, ProvledgerSettings
from provledger.errors import ConfigurationError, VerificationError
from provledger.ledger.keys import VerifierKey, check_key_name

#: Most logs one witness is configured with: each costs a lock and a row, nothing per request.
MAX_LOGS: Final = 100_000
#: Most verifier keys of one log (a log rotating its key lists both for a while).
MAX_KEYS_PER_LOG: Final = 16
#: Largest add-checkpoint body accepted by default: 63 proof lines are ~2.9 KB, a checkpoint
#: with a few signatures well under 1 KB; ML-DSA cosignatures already on it add ~3.3 KB each.
DEFAULT_MAX_BODY_BYTES: Final = 64 << 10
_FIELDS: Final = re.compile(r"[ \t]+")
#: Longest password file read: a password is short; a larger file is a wrong path.
MAX_PASSWORD_FILE_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class WitnessDatabase:
    """Where a witness keeps its state in Postgres: the DSN, and the password read from its file.

    The password is kept apart from the DSN (asyncpg takes it as its own argument) and out of
    ``repr``, so neither a log line nor a traceback shows it.
    """

    dsn: str
    password: str | None = field(default=None, repr=False)


class WitnessSettings(ProvledgerSettings):
    """``provledger witness``: a C2SP tlog-witness for the logs in its logs file."""

    witness_key_file: Path | None = Field(
        None,
        description="PEM file (or mounted secret) of the witness's own Ed25519 key, which signs its "
        "cosignatures; `provledger keys generate --out witness.pem --name <witness name>` makes one.",
    )
    witness_name: str = Field(
        "provledger-witness",
        description="The witness's name in its cosignature lines and verifier key (a schema-less URL "
        "identifying it, e.g. witness.example.org/w1).",
    )
    witness_logs_file: Path | None = Field(
        None, description="The logs the witness cosigns: lines `log <origin> <verifier key>...` (README)."
    )
    witness_state_file: Path = Field(
        DEFAULT_DATA_DIR / "witness.sqlite3",
        description="SQLite file of the latest cosigned checkpoint per log and of conflicts (created if "
        "missing). Losing it lets the witness be fooled into cosigning a fork: keep it on durable storage.",
    )
    witness_database_url: SecretStr | None = Field(
        None,
        description="postgresql:// DSN of a Postgres to keep the witness's state in, instead of "
        "PROVLEDGER_WITNESS_STATE_FILE (unset: the SQLite file). The witness creates its own schema "
        "provledger_witness there, so it may share a database with other tables; its role needs "
        "CREATE on the database the first time (or the schema made for it).",
    )
    witness_database_password_file: Path | None = Field(
        None,
        description="File (or mounted secret) holding the password of PROVLEDGER_WITNESS_DATABASE_URL's "
        "role, so the DSN need not carry it; one trailing newline is ignored.",
    )
    witness_host: str = Field("127.0.0.1", description="Address the witness listens on.")
    witness_port: int = Field(
        8090, ge=0, le=65535, description="Port the witness listens on (0: a free one)."
    )
    witness_max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        ge=4096,
        le=1 << 20,
        description="Largest add-checkpoint body; a longer one is refused with 413 before it is read.",
    )

    @field_validator("witness_name")
    @classmethod
    def _key_name(cls, value: str) -> str:
        return check_key_name(value)

    @field_validator("witness_database_url")
    @classmethod
    def _postgres_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value.get_secret_value())
            parts.port  # noqa: B018 - parsing the port is the check (a non-number raises)
        except ValueError as exc:
            raise ValueError(f"is not a DSN: {exc}") from exc
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// or postgres:// DSN")
        return value

    def database(self) -> WitnessDatabase | None:
        """The Postgres to keep the state in, or None for the SQLite state file.

        Raises a :class:`ConfigurationError` naming the variable when the password file is set
        without a DSN, cannot be read, is empty, or competes with a password in the DSN.
        """
        url, password_file = self.witness_database_url, self.witness_database_password_file
        if url is None:
            if password_file is not None:
                raise ConfigurationError(
                    f"{ENV_PREFIX}WITNESS_DATABASE_PASSWORD_FILE is set but {ENV_PREFIX}WITNESS_DATABASE_URL "
                    "is not: set the DSN of the witness's Postgres too, or unset the password file to keep "
                    "the state in the SQLite file"
                )
            return None
        dsn = url.get_secret_value()
        if password_file is None:
            return WitnessDatabase(dsn)
        if urlsplit(dsn).password is not None:
            raise ConfigurationError(
                f"{ENV_PREFIX}WITNESS_DATABASE_URL carries a password and {ENV_PREFIX}WITNESS_DATABASE_"
                "PASSWORD_FILE names another: remove the password from the DSN (keep it in the file)"
            )
        return WitnessDatabase(dsn, _read_password(password_file))

    def require_key_file(self) -> Path:
        """The key path, or an error telling the operator how to provide one."""
        if self.witness_key_file is None:
            raise ConfigurationError(
                f"{ENV_PREFIX}WITNESS_KEY_FILE is not set: the witness signs every cosignature with its own "
                "key. Create one with `provledger keys generate --out witness.pem --name <witness name>` and "
                "point the variable at it (in Kubernetes, mount it from a secret)."
            )
        return self.witness_key_file

    def require_logs(self) -> dict[str, tuple[VerifierKey, ...]]:
        """The logs of the logs file, or an error saying what to fix in it."""
        if self.witness_logs_file is None:
            raise ConfigurationError(
                f"{ENV_PREFIX}WITNESS_LOGS_FILE is not set: list the logs to witness in a file, one line "
                "`log <origin> <verifier key>` each (README, Witness), and point the variable at it."
            )
        try:
            text = self.witness_logs_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"cannot read {ENV_PREFIX}WITNESS_LOGS_FILE {str(self.witness_logs_file)!r}: {exc}"
            ) from exc
        return parse_logs(text, str(self.witness_logs_file))


def _read_password(path: Path) -> str:
    """The password in ``path`` without its trailing newline; errors name the variable, never the content."""
    variable = f"{ENV_PREFIX}WITNESS_DATABASE_PASSWORD_FILE"
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_PASSWORD_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {variable} {str(path)!r}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_PASSWORD_FILE_BYTES:
        raise ConfigurationError(
            f"{variable} {str(path)!r} is larger than {MAX_PASSWORD_FILE_BYTES} bytes: "
            "it is not a password file"
        )
    try:
        password = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{variable} {str(path)!r} is not UTF-8 text") from exc
    if not password:
        raise ConfigurationError(f"{variable} {str(path)!r} is empty: write the role's password into it")
    if any(char in password for char in "\r\n\0"):
        raise ConfigurationError(
            f"{variable} {str(path)!r} holds more than one line: it must hold the password alone"
        )
    return password


def parse_logs(text: str, source: str) -> dict[str, tuple[VerifierKey, ...]]:
    """The logs a logs file lists, origin to verifier keys; a :class:`ConfigurationError` names the line."""
    logs: dict[str, tuple[VerifierKey, ...]] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue

        def fail(problem: str, number: int = number) -> ConfigurationError:
            return ConfigurationError(f"{source}, line {number}: {problem}")

        keyword, *fields = _FIELDS.split(line)
        if keyword != "log":
            raise fail(f"unknown keyword {keyword!r}: each line is `log <origin> <verifier key>...`")
        if len(fields) < 2:
            raise fail("a log line is `log <origin> <verifier key> [<verifier key>...]`: a key is missing")
        origin, key_texts = fields[0], fields[1:]
        if any(char < " " for char in origin):
            raise fail(f"origin {origin!r} holds a control character")
        if origin in logs:
            raise fail(f"origin {origin!r} is listed twice: put all its keys on one line")
        if len(key_texts) > MAX_KEYS_PER_LOG:
            raise fail(f"{len(key_texts)} keys for one log, at most {MAX_KEYS_PER_LOG}")
        keys = []
        for key_text in key_texts:
            try:
                keys.append(VerifierKey.parse(key_text))
            except VerificationError as exc:
                raise fail(
                    f"{key_text!r} is not an Ed25519 verifier key (name+keyid+base64, as "
                    f"`provledger keys generate` prints): {exc}"
                ) from exc
        if len({key.key_id for key in keys}) != len(keys):
            raise fail(f"a key of {origin!r} is listed twice")
        logs[origin] = tuple(keys)
        if len(logs) > MAX_LOGS:
            raise fail(f"more than {MAX_LOGS} logs")
    if not logs:
        raise ConfigurationError(
            f"{source} lists no log: add one line `log <origin> <verifier key>` per log to witness"
        )
    return logs
