"""Choosing the witness's Postgres: DSN and password file checked at the edge, the password never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provledger.commands.witness import store_opener
from provledger.config import load, masked
from provledger.errors import ConfigurationError
from provledger.witness.settings import MAX_PASSWORD_FILE_BYTES, WitnessDatabase, WitnessSettings
from provledger.witness.sqlite import SqliteWitnessStore

DSN = "postgresql://witness@db.example:5432/witness"
PASSWORD = "s3cret-p@ss word"


def test_unset_means_the_sqlite_file(tmp_path: Path) -> None:
    assert load(WitnessSettings).database() is None


async def test_the_command_opens_sqlite_by_default(tmp_path: Path) -> None:
    store = await store_opener(load(WitnessSettings, witness_state_file=tmp_path / "w.sqlite3"))()
    try:
        assert isinstance(store, SqliteWitnessStore)
    finally:
        await store.close()


def test_a_password_file_is_read_and_kept_out_of_logs(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    settings = load(WitnessSettings, witness_database_url=DSN, witness_database_password_file=secret)
    database = settings.database()
    assert database == WitnessDatabase(DSN, PASSWORD)
    assert PASSWORD not in repr(database)
    assert PASSWORD not in str(masked(settings))
    secret.write_text(PASSWORD)  # a Kubernetes secret has no newline
    assert settings.database() == WitnessDatabase(DSN, PASSWORD)


def test_a_password_in_the_dsn_is_masked_in_the_start_up_log() -> None:
    settings = load(WitnessSettings, witness_database_url="postgresql://w:hunter2@db/w")
    assert settings.database() == WitnessDatabase("postgresql://w:hunter2@db/w")
    assert "hunter2" not in str(masked(settings))


@pytest.mark.parametrize(
    ("dsn", "content", "problem"),
    [
        (None, PASSWORD, "PASSWORD_FILE is set but PROVLEDGER_WITNESS_DATABASE_URL is not"),
        ("postgresql://w:inline@db/w", PASSWORD, "carries a password and"),
        (DSN, "", "is empty"),
        (DSN, "\n", "is empty"),
        (DSN, "one\ntwo\n", "more than one line"),
        (DSN, "x" * (MAX_PASSWORD_FILE_BYTES + 1), "is not a password file"),
        (DSN, None, "cannot read PROVLEDGER_WITNESS_DATABASE_PASSWORD_FILE"),
    ],
)
def test_a_bad_password_file_is_refused_naming_the_variable(
    tmp_path: Path, dsn: str | None, content: str | None, problem: str
) -> None:
    secret = tmp_path / "password"
    if content is not None:
        secret.write_text(content)
    settings = load(WitnessSettings, witness_database_url=dsn, witness_database_password_file=secret)
    with pytest.raises(ConfigurationError, match=problem) as caught:
        settings.database()
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "dsn", ["mysql://w@db/w", "db.example:5432", "postgresql://w@db:port/w", "sqlite:///w.sqlite3"]
)
def test_a_dsn_that_is_not_postgres_is_refused(dsn: str) -> None:
    with pytest.raises(ConfigurationError, match="PROVLEDGER_WITNESS_DATABASE_URL"):
        load(WitnessSettings, witness_database_url=dsn)


async def test_the_password_goes_into_the_connection_not_the_dsn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg gets the password as its own argument (trust-auth test servers cannot tell)."""
    seen: dict[str, Any] = {}

    class Refused(Exception):
        pass

    async def create_pool(dsn: str, **options: Any) -> None:
        seen.update(options, dsn=dsn)
        raise Refused

    monkeypatch.setattr("asyncpg.create_pool", create_pool)
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    settings = load(WitnessSettings, witness_database_url=DSN, witness_database_password_file=secret)
    with pytest.raises(Refused):
        await store_opener(settings)()
    assert (seen["dsn"], seen["password"]) == (DSN, PASSWORD)
    assert seen["server_settings"]["synchronous_commit"] == "on"
