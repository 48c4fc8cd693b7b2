"""PROVLEDGER_WITNESSES*: parsed and validated at start-up, each bad entry named; unset means no witness."""

from __future__ import annotations

import pytest

from provledger.anchor.kinds import ANCHOR_KINDS
from provledger.anchor.tlog_witness import WitnessClientSettings, make_witnesses, parse_witnesses
from provledger.anchor.tlog_witness.settings import MAX_WITNESSES
from provledger.config import load
from provledger.errors import ConfigurationError
from provledger.ledger.cosignature import cosigner
from provledger.ledger.keys import SigningKey


def witness_vkey(name: str, seed: int = 1) -> str:
    """A witness's verifier key string, as ``provledger witness keys`` prints it (type 0x04)."""
    return cosigner(SigningKey.from_seed(name, bytes([seed]) * 32)).verifier_key_string()


W1, W2 = witness_vkey("w.example/1", 1), witness_vkey("w.example/2", 2)


@pytest.fixture(autouse=True)
def _no_witness_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WITNESSES", "WITNESSES_TIMEOUT_S", "WITNESSES_MIN_INTERVAL_S"):
        monkeypatch.delenv(f"PROVLEDGER_{name}", raising=False)


def test_unset_or_blank_means_no_witness() -> None:
    assert make_witnesses() == []
    assert make_witnesses(witnesses=" ,\n , ") == []


def test_entries_split_on_commas_and_newlines_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PROVLEDGER_WITNESSES", f"  {W1}\thttp://127.0.0.1:8090/ ,\n{W2}  https://w2.example/tlog\n"
    )
    monkeypatch.setenv("PROVLEDGER_WITNESSES_TIMEOUT_S", "2.5")
    monkeypatch.setenv("PROVLEDGER_WITNESSES_MIN_INTERVAL_S", "60")
    clients = make_witnesses()
    assert [(c.name, c.endpoint.url) for c in clients] == [
        ("w.example/1", "http://127.0.0.1:8090"),
        ("w.example/2", "https://w2.example/tlog"),
    ]
    assert [c.endpoint.key_string for c in clients] == [W1, W2]
    assert {(c.timeout_s, c.min_interval_s) for c in clients} == {(2.5, 60.0)}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"{W1}", "an entry is `<verifier key> <url>`"),
        (f"{W1} http://a.example extra", "an entry is `<verifier key> <url>`"),
        ("w.example/1+00000000+AAAA http://a.example", "is not a witness verifier key"),
        # The sealer's kind of key (type 0x01) is not a cosignature key (type 0x04).
        (
            f"{SigningKey.from_seed('w.example/1', bytes(32)).verifier.verifier_key_string()} http://a.example",
            "is not a witness verifier key",
        ),
        (f"{W1} ftp://a.example", "is not an http:// or https:// URL"),
        (f"{W1} a.example:8090", "is not an http:// or https:// URL"),
        (f"{W1} http://a.example/?log=1", "is not an http:// or https:// URL"),
        (f"{W1} http://a.example, {W1} http://b.example", "named w.example/1 is listed already"),
        (f"{W1} http://a.example, {witness_vkey('w.example/1', 9)} http://b.example", "listed already"),
        (
            ",".join(
                f"{witness_vkey(f'w.example/{i}', i)} http://w{i}.example" for i in range(MAX_WITNESSES + 1)
            ),
            f"at most {MAX_WITNESSES}",
        ),
    ],
)
def test_bad_entries_are_refused_naming_the_variable(value: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=f"PROVLEDGER_WITNESSES.*{reason}"):
        load(WitnessClientSettings, witnesses=value)
    with pytest.raises(ConfigurationError, match=reason):
        parse_witnesses(value)


def test_the_entry_number_is_named() -> None:
    with pytest.raises(ConfigurationError, match="entry 2"):
        parse_witnesses(f"{W1} http://a.example\n{W2} gopher://b.example")


@pytest.mark.parametrize(("field", "value"), [("witnesses_timeout_s", 0), ("witnesses_min_interval_s", -1)])
def test_the_timeout_and_the_rate_limit_are_bounded(field: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=f"PROVLEDGER_{field.upper()}"):
        load(WitnessClientSettings, **{field: value})


def test_witnesses_are_not_an_anchor_kind() -> None:
    """They cosign shard checkpoints, not the anchorer's statement: the registry does not list them."""
    assert "tlog-witness" not in ANCHOR_KINDS
