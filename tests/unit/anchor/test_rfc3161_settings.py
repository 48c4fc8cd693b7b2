"""PROVLEDGER_TSA_*: validated at start-up, and the kind fails closed without URLs or roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from provledger.anchor.kinds import ANCHOR_KINDS
from provledger.anchor.rfc3161 import Rfc3161Kind, make_kind
from provledger.anchor.rfc3161.settings import MAX_TSAS, Rfc3161Settings
from provledger.config import load
from provledger.errors import ConfigurationError
from provledger.local.tsa import TsaFiles


@pytest.fixture(autouse=True)
def _no_tsa_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROVLEDGER_TSA_URLS", "PROVLEDGER_TSA_ROOTS_FILE", "PROVLEDGER_TSA_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)


def test_urls_are_read_from_the_environment_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_TSA_URLS", " http://timestamp.digicert.com, https://freetsa.org/tsr ")
    assert load(Rfc3161Settings).require_urls() == (
        "http://timestamp.digicert.com",
        "https://freetsa.org/tsr",
    )


@pytest.mark.parametrize(
    ("urls", "reason"),
    [
        ("ftp://tsa.example.com", "not an http:// or https:// URL"),
        ("tsa.example.com", "not an http:// or https:// URL"),
        ("http://a.example,http://a.example", "names a TSA twice"),
        (",".join(f"http://tsa{i}.example" for i in range(MAX_TSAS + 1)), f"at most {MAX_TSAS}"),
    ],
)
def test_bad_urls_are_refused_naming_the_variable(urls: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=f"PROVLEDGER_TSA_URLS: .*{reason}"):
        load(Rfc3161Settings, tsa_urls=urls)


def test_the_timeout_is_bounded() -> None:
    with pytest.raises(ConfigurationError, match="PROVLEDGER_TSA_TIMEOUT_S"):
        load(Rfc3161Settings, tsa_timeout_s=0)


def test_the_kind_fails_closed_without_urls_or_roots(unit_tsa: TsaFiles) -> None:
    with pytest.raises(ConfigurationError, match="PROVLEDGER_TSA_URLS is not set"):
        make_kind(tsa_roots_file=unit_tsa.ca_cert)
    with pytest.raises(ConfigurationError, match="PROVLEDGER_TSA_ROOTS_FILE is not set"):
        make_kind(tsa_urls="http://tsa.example")
    with pytest.raises(ConfigurationError, match="not a readable PEM"):
        make_kind(tsa_urls="http://tsa.example", tsa_roots_file=Path("/nonexistent/roots.pem"))


def test_the_registry_builds_the_kind_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, unit_tsa: TsaFiles
) -> None:
    monkeypatch.setenv("PROVLEDGER_TSA_URLS", "http://127.0.0.1:1/,http://127.0.0.1:2/")
    monkeypatch.setenv("PROVLEDGER_TSA_ROOTS_FILE", str(unit_tsa.ca_cert))
    kind = ANCHOR_KINDS["rfc3161"]()
    assert isinstance(kind, Rfc3161Kind)
    assert kind.name == "rfc3161"
    assert [client.url for client in kind.clients] == ["http://127.0.0.1:1/", "http://127.0.0.1:2/"]
