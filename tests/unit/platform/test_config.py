"""Configuration errors name the PROVLEDGER_* variable to fix; secrets never reach the log line."""

from __future__ import annotations

import pytest

from provledger.config import DatabaseSettings, KafkaSettings, StackSettings, load, masked
from provledger.errors import ConfigurationError


def test_bad_bootstrap_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_KAFKA_BOOTSTRAP", "localhost")
    with pytest.raises(
        ConfigurationError, match=r"PROVLEDGER_KAFKA_BOOTSTRAP: .*'localhost' is not host:port"
    ):
        load(KafkaSettings)


def test_bad_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_DATABASE_URL", "mysql://db/ledger")
    with pytest.raises(ConfigurationError, match=r"PROVLEDGER_DATABASE_URL: .*postgresql://"):
        load(DatabaseSettings)


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_API_PORT", "99999")
    monkeypatch.setenv("PROVLEDGER_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigurationError) as caught:
        load(StackSettings)
    assert "PROVLEDGER_API_PORT" in str(caught.value)
    assert "PROVLEDGER_LOG_LEVEL" in str(caught.value)


def test_missing_required_server_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVLEDGER_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match=r"PROVLEDGER_DATABASE_URL is not set.*provledger up"):
        load(DatabaseSettings).require_database_url()


def test_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(KafkaSettings, kafka_bootstrap="broker-1:9092,broker-2:9092")
    with pytest.raises(ValueError, match="frozen"):
        settings.topic_events = "elsewhere"


def test_masked_hides_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_DATABASE_URL", "postgresql://ledger:hunter2@db:5432/ledger")
    shown = masked(load(StackSettings))
    assert "hunter2" not in repr(shown)
    assert shown["database_url"] == "**********"
    assert load(StackSettings).require_database_url().endswith("hunter2@db:5432/ledger")
