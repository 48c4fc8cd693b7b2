"""The database password comes from a file (issue 19): read when connecting, never in the URL or a log."""

from __future__ import annotations

from pathlib import Path

import pytest

from provledger.config import DatabaseSettings, load, masked
from provledger.errors import ConfigurationError

SECRET = "s3cr:et/@ pass%"


def _password_file(tmp_path: Path, text: str = SECRET + "\n") -> Path:
    path = tmp_path / "password"
    path.write_text(text, encoding="utf-8")
    return path


def _settings(url: str, password_file: Path) -> DatabaseSettings:
    return load(DatabaseSettings, database_url=url, database_password_file=password_file)


def test_the_file_password_joins_the_dsn_percent_encoded(tmp_path: Path) -> None:
    settings = load(
        DatabaseSettings,
        database_url="postgresql://sealer@db:5432/ledger?sslmode=require",
        database_password_file=_password_file(tmp_path),
    )
    assert settings.require_database_url() == (
        "postgresql://sealer:s3cr%3Aet%2F%40%20pass%25@db:5432/ledger?sslmode=require"
    )


def test_the_file_is_read_at_connect_time_so_a_rotated_password_is_picked_up(tmp_path: Path) -> None:
    path = _password_file(tmp_path)
    settings = load(DatabaseSettings, database_url="postgresql://api@db/ledger", database_password_file=path)
    path.write_text("rotated\n", encoding="utf-8")
    assert settings.require_database_url() == "postgresql://api:rotated@db/ledger"


def test_a_url_password_and_a_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"PROVLEDGER_DATABASE_PASSWORD_FILE: .*carries a password"):
        load(
            DatabaseSettings,
            database_url="postgresql://sealer:inline@db/ledger",
            database_password_file=_password_file(tmp_path),
        )


def test_a_file_needs_a_login_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="must name the login"):
        load(
            DatabaseSettings,
            database_url="postgresql://db/ledger",
            database_password_file=_password_file(tmp_path),
        )


@pytest.mark.parametrize("text", ["", "\n", "two\nlines\n"])
def test_an_empty_or_multiline_file_is_refused_without_echoing_it(tmp_path: Path, text: str) -> None:
    settings = load(
        DatabaseSettings,
        database_url="postgresql://u@db/l",
        database_password_file=_password_file(tmp_path, text),
    )
    with pytest.raises(ConfigurationError, match="exactly one line") as refused:
        settings.require_database_url()
    assert "lines" not in str(refused.value).replace("exactly one line", "")


def test_a_missing_file_names_the_path_not_a_secret(tmp_path: Path) -> None:
    settings = load(
        DatabaseSettings, database_url="postgresql://u@db/l", database_password_file=tmp_path / "nope"
    )
    with pytest.raises(ConfigurationError, match=r"cannot read .*nope"):
        settings.require_database_url()


def test_the_password_never_reaches_the_settings_log(tmp_path: Path) -> None:
    settings = load(
        DatabaseSettings, database_url="postgresql://u@db/l", database_password_file=_password_file(tmp_path)
    )
    assert SECRET not in repr(masked(settings))
    assert SECRET not in repr(settings)
