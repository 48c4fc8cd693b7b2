"""The anchor contract as the wheel ships it: its Solidity source, ABI and creation bytecode.

``contract/ProvledgerAnchor.json`` is what ``node tools/chain/compile.js`` prints (the pinned
solcjs of ``tools/chain/package.json``); a test recompiles the source and compares, so what
``provledger anchors deploy-contract`` deploys is exactly that source's bytecode.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

NAME = "ProvledgerAnchor"


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """The compiler that built the contract, its ABI and its creation bytecode."""

    compiler: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes


def _file(suffix: str) -> str:
    return resources.files("provledger.anchor.evm").joinpath("contract", f"{NAME}{suffix}").read_text("utf-8")


def source() -> str:
    """The Solidity source shipped with the package."""
    return _file(".sol")


@functools.cache
def artifact() -> ContractArtifact:
    """The committed compiler output."""
    document = json.loads(_file(".json"))
    return ContractArtifact(document["compiler"], tuple(document["abi"]), bytes.fromhex(document["bytecode"]))
