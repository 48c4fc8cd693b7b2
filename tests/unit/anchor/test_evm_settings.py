"""PROVLEDGER_EVM_*: a missing or bad setting stops the kind with the variable to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from provledger.anchor.evm import make_kind
from provledger.anchor.evm.settings import EvmSettings, read_key_file
from provledger.config import load
from provledger.errors import ConfigurationError

CONTRACT = "0x" + "Ab" * 20


def test_an_incomplete_kind_names_every_missing_variable() -> None:
    with pytest.raises(ConfigurationError, match="PROVLEDGER_EVM_CHAIN_ID, PROVLEDGER_EVM_CONTRACT, "
                       "PROVLEDGER_EVM_KEY_FILE"):  # fmt: skip
        make_kind(evm_rpc_url="http://127.0.0.1:8545")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("evm_rpc_url", "ftp://node"),
        ("evm_rpc_url", "http://"),
        ("evm_contract", "0x1234"),
        ("evm_contract", "ab" * 20),
        ("evm_chain_id", -1),
        ("evm_max_fee_gwei", 0),
        ("evm_gas_limit", 20_999),
        ("evm_timeout_s", 0),
    ],
)
def test_bad_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"PROVLEDGER_{field.upper()}"):
        load(EvmSettings, **{field: value})


def test_the_contract_address_is_kept_lowercase_and_a_tip_above_the_cap_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("11" * 32 + "\n")
    settings = load(
        EvmSettings, evm_rpc_url="http://n:1", evm_chain_id=5, evm_contract=CONTRACT, evm_key_file=key
    )
    assert settings.require()[2] == bytes.fromhex("ab" * 20)
    tipped = load(EvmSettings, **{**settings.model_dump(), "evm_priority_fee_gwei": 500})
    with pytest.raises(ConfigurationError, match="lower the tip"):
        tipped.require()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "64 hex digits"),
        ("zz" * 32, "64 hex digits"),
        ("11" * 31, "64 hex digits"),
        ("00" * 32, "no valid secp256k1 key"),
        ("ff" * 32, "no valid secp256k1 key"),
    ],
)
def test_a_key_file_that_holds_no_key_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    key = tmp_path / "key"
    key.write_text(text)
    with pytest.raises(ConfigurationError, match=reason):
        read_key_file(key)


def test_a_key_file_with_0x_reads(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("0x" + "11" * 32)
    assert read_key_file(key) == bytes.fromhex("11" * 32)
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_key_file(tmp_path / "absent")
