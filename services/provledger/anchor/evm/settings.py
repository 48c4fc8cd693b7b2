"""``PROVLEDGER_EVM_*``: which chain and contract the evm kind anchors to, with which key, at what cost."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from provledger.config import ENV_PREFIX, ProvledgerSettings
from provledger.errors import ConfigurationError

DEFAULT_TIMEOUT_S: Final = 10.0
#: An anchor call costs ~24,700 gas (measured on anvil); the limit leaves room for a chain that
#: prices calldata or logs higher, and bounds what one transaction can ever cost.
DEFAULT_GAS_LIMIT: Final = 60_000
DEFAULT_MAX_FEE_GWEI: Final = 100.0
DEFAULT_PRIORITY_FEE_GWEI: Final = 1.0
GWEI: Final = 10**9
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_KEY: Final = re.compile(r"(0x)?[0-9a-fA-F]{64}")
#: The order of secp256k1's group: a private key is a number from 1 to this less one (SEC 2, 2.4.1).
_SECP256K1_ORDER: Final = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141


class EvmSettings(ProvledgerSettings):
    """The evm anchor kind: one ``anchor`` call per statement to ``PROVLEDGER_EVM_CONTRACT``."""

    evm_rpc_url: str = Field("", description="http(s) URL of the chain's JSON-RPC endpoint to send to.")
    evm_chain_id: int = Field(
        0, ge=0, description="Chain id the transactions are signed for (EIP-155); the node must report it."
    )
    evm_contract: str = Field(
        "",
        description="Address (0x + 40 hex) of the contract `provledger anchors deploy-contract` printed.",
    )
    evm_key_file: Path | None = Field(
        None,
        description="File holding the submitter's secp256k1 private key as 64 hex digits (a mounted secret); "
        "its account pays for and signs every anchor, and the monitor follows it.",
    )
    evm_max_fee_gwei: float = Field(
        DEFAULT_MAX_FEE_GWEI,
        gt=0,
        description="Fee cap: the most one unit of gas may cost, in gwei; while the chain's base fee is "
        "above it no anchor is sent (the other kinds go on).",
    )
    evm_priority_fee_gwei: float = Field(
        DEFAULT_PRIORITY_FEE_GWEI, ge=0, description="Tip per unit of gas to the block's proposer, in gwei."
    )
    evm_gas_limit: int = Field(
        DEFAULT_GAS_LIMIT, ge=21_000, le=1_000_000, description="Gas limit of each anchor transaction."
    )
    evm_timeout_s: float = Field(
        DEFAULT_TIMEOUT_S, gt=0, le=120, description="Longest one JSON-RPC request may take."
    )

    @field_validator("evm_rpc_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("evm_contract")
    @classmethod
    def _address(cls, value: str) -> str:
        if value and not _ADDRESS.fullmatch(value):
            raise ValueError(f"{value!r} is not an address (0x and 40 hex digits)")
        return value.lower()

    def require(self) -> tuple[str, int, bytes, Path]:
        """URL, chain id, contract and key file, or an error saying which variable to set."""
        missing = [
            name
            for name, value in (
                ("EVM_RPC_URL", self.evm_rpc_url),
                ("EVM_CHAIN_ID", self.evm_chain_id),
                ("EVM_CONTRACT", self.evm_contract),
                ("EVM_KEY_FILE", self.evm_key_file),
            )
            if not value
        ]
        if missing or self.evm_key_file is None:
            raise ConfigurationError(
                f"the evm anchor kind needs {', '.join(ENV_PREFIX + name for name in missing)}: the chain's "
                "JSON-RPC URL and id, the contract `provledger anchors deploy-contract` deployed, and the "
                "submitter's key file (or run `provledger up` with Node installed: it starts a local chain)"
            )
        if self.evm_priority_fee_gwei > self.evm_max_fee_gwei:
            raise ConfigurationError(
                f"{ENV_PREFIX}EVM_PRIORITY_FEE_GWEI is above {ENV_PREFIX}EVM_MAX_FEE_GWEI: lower the tip"
            )
        return self.evm_rpc_url, self.evm_chain_id, bytes.fromhex(self.evm_contract[2:]), self.evm_key_file


def parse_address(text: str, what: str) -> bytes:
    """An address (0x and 40 hex digits, any case) as 20 bytes; an error naming ``what``."""
    if not _ADDRESS.fullmatch(text.strip()):
        raise ConfigurationError(f"{what} {text!r} is not an address (0x and 40 hex digits)")
    return bytes.fromhex(text.strip()[2:])


def read_key_file(path: Path) -> bytes:
    """The 32-byte private key in ``path`` (64 hex digits, 0x optional); an error naming the fix."""
    try:
        text = path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the evm submitter key file {path}: {exc}") from exc
    if not _KEY.fullmatch(text):
        raise ConfigurationError(
            f"the evm submitter key file {path} does not hold a private key as 64 hex digits "
            "(make one with `provledger anchors new-key --out FILE`)"
        )
    key = bytes.fromhex(text.removeprefix("0x"))
    if not 0 < int.from_bytes(key, "big") < _SECP256K1_ORDER:
        raise ConfigurationError(f"the evm submitter key file {path} holds no valid secp256k1 key")
    return key
