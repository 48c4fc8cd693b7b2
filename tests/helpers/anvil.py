"""A real anvil for the evm tests: one per session, the contract deployed afresh for each test.

``anvil_node`` skips (printing why) only where no anvil binary exists; ``make install`` installs
the pinned one (npm ci in tools/chain) and ``.ci/run`` makes sure npm is there. Tests import
the fixtures they use from here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provledger.anchor.evm import make_kind
from provledger.anchor.evm.accounts import Account
from provledger.anchor.evm.deploy import deploy_contract, new_key_file
from provledger.anchor.evm.kind import EvmKind
from provledger.anchor.evm.settings import read_key_file
from provledger.local.anvil import LocalAnvil, find_anvil, local_anvil, rpc_call

#: anvil's finalized block trails its head by 64: mining this many makes every earlier block final.
FINALITY_BLOCKS = 65


@pytest.fixture(scope="session", name="anvil_node")
def anvil_node_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAnvil]:
    """A running anvil mining a block per transaction, stopped when the session ends."""
    if find_anvil() is None:
        print("anvil is absent: install Node.js and npm, then `make install` (npm ci in tools/chain)")
        pytest.skip("anvil is absent: install Node.js and npm, then `make install`")
    with local_anvil(tmp_path_factory.mktemp("anvil") / "anvil.log") as node:
        yield node


@dataclass(frozen=True)
class Chain:
    """The test's view of the chain: the node, the contract, and the anchorer's key file."""

    node: LocalAnvil
    contract: str
    key_file: Path

    @property
    def submitter(self) -> str:
        return str(Account.from_key(read_key_file(self.key_file)).address)

    def call(self, method: str, *params: Any) -> Any:
        return rpc_call(self.node.url, method, *params)

    def mine(self, blocks: int = FINALITY_BLOCKS) -> None:
        self.settle()
        self.call("anvil_mine", hex(blocks))

    def kind(self, **overrides: Any) -> EvmKind:
        settings = {
            "evm_rpc_url": self.node.url,
            "evm_chain_id": self.node.chain_id,
            "evm_contract": self.contract,
            "evm_key_file": self.key_file,
            **overrides,
        }
        return make_kind(**settings)

    def settle(self) -> None:
        """Wait until anvil has mined what it was sent (it mines right after answering, not before)."""
        if not self.call("anvil_getAutomine"):
            return
        for _ in range(100):
            if int(self.call("txpool_status")["pending"], 16) == 0:
                return
            time.sleep(0.05)
        raise AssertionError("anvil left transactions unmined for 5 s")

    def anchored_logs(self) -> list[dict[str, Any]]:
        """Every Anchored log of the contract sent by the test's submitter, once what was sent is mined."""
        from provledger.ledger.evm_receipt import ANCHORED_TOPIC, to_hex, word

        self.settle()
        submitter = bytes.fromhex(self.submitter[2:])
        topics = [to_hex(ANCHORED_TOPIC), to_hex(word(submitter))]
        found = self.call("eth_getLogs", {"address": self.contract, "topics": topics, "fromBlock": "0x0"})
        assert isinstance(found, list)
        return found


def funded_key(node: LocalAnvil, path: Path) -> Path:
    """A new submitter key file at ``path`` whose account anvil funds with 100 ether."""
    address = new_key_file(path)
    rpc_call(node.url, "anvil_setBalance", address, hex(100 * 10**18))
    return path


@pytest.fixture(name="chain")
def chain_fixture(anvil_node: LocalAnvil, tmp_path: Path) -> Iterator[Chain]:
    """The contract deployed by a fresh funded key, with automining back on after the test."""
    key_file = funded_key(anvil_node, tmp_path / "submitter.key")
    deployment = asyncio.run(deploy_contract(anvil_node.url, read_key_file(key_file), 100.0))
    yield Chain(anvil_node, deployment.contract, key_file)
    rpc_call(anvil_node.url, "evm_setAutomine", True)
