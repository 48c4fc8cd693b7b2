"""The witness's settings and logs file: what it accepts, and errors that say which line to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers.ledger_sealing import fixed_key
from tests.helpers.published_keys import GO_VKEY

from provledger.config import load
from provledger.errors import ConfigurationError
from provledger.ledger.cosignature import cosigner
from provledger.witness.settings import WitnessSettings, parse_logs

KEY_A = fixed_key("ledger.test/log", seed=1).verifier.verifier_key_string()
KEY_B = fixed_key("ledger.test/log", seed=2).verifier.verifier_key_string()


def test_a_logs_file_with_comments_tabs_and_two_keys() -> None:
    text = (
        f"# shard logs\n\n  log ledger.test/log/shard/0\t{KEY_A} {KEY_B}  \nlog example.com/log {GO_VKEY}\n"
    )
    logs = parse_logs(text, "logs.txt")
    assert list(logs) == ["ledger.test/log/shard/0", "example.com/log"]
    assert [key.verifier_key_string() for key in logs["ledger.test/log/shard/0"]] == [KEY_A, KEY_B]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "lists no log"),
        ("# nothing\n", "lists no log"),
        (f"witness ledger.test/log {KEY_A}\n", "line 1: unknown keyword 'witness'"),
        ("log ledger.test/log\n", "line 1: .*a key is missing"),
        (f"\nlog a {KEY_A}\nlog a {KEY_B}\n", "line 3: origin 'a' is listed twice"),
        (f"log a {KEY_A} {KEY_A}\n", "listed twice"),
        ("log a ledger.test/log+00000000+AAAA\n", "line 1: .*is not an Ed25519 verifier key"),
        # A cosigner's key (type 0x04) is not a log's key.
        (f"log a {cosigner(fixed_key()).verifier_key_string()}\n", "not an Ed25519 verifier key"),
        (f"log a\x0bb {KEY_A}\n", "control character"),
    ],
)
def test_bad_logs_files_name_the_line(text: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=f"logs.txt.*{problem}"):
        parse_logs(text, "logs.txt")


def test_settings_require_a_key_and_a_logs_file(tmp_path: Path) -> None:
    settings = load(WitnessSettings)
    with pytest.raises(ConfigurationError, match="PROVLEDGER_WITNESS_KEY_FILE is not set"):
        settings.require_key_file()
    with pytest.raises(ConfigurationError, match="PROVLEDGER_WITNESS_LOGS_FILE is not set"):
        settings.require_logs()
    missing = load(WitnessSettings, witness_logs_file=tmp_path / "absent.txt")
    with pytest.raises(ConfigurationError, match="cannot read PROVLEDGER_WITNESS_LOGS_FILE"):
        missing.require_logs()
    with pytest.raises(ConfigurationError, match="PROVLEDGER_WITNESS_NAME"):
        load(WitnessSettings, witness_name="has space")
    with pytest.raises(ConfigurationError, match="PROVLEDGER_WITNESS_MAX_BODY_BYTES"):
        load(WitnessSettings, witness_max_body_bytes=10)
