"""A real local Ethereum JSON-RPC node for laptops, CI and tests: anvil, from its npm package.

Development only. ``tools/chain`` pins ``@foundry-rs/anvil-linux-amd64`` (``make install`` runs
``npm ci`` there when npm exists); :func:`find_anvil` finds its binary there or on ``PATH``::

    from provledger.local.anvil import local_anvil
    with local_anvil(Path(".provledger/logs/anvil.log"), block_time_s=1) as node:
        print(node.url, node.chain_id)  # PROVLEDGER_EVM_RPC_URL, PROVLEDGER_EVM_CHAIN_ID

anvil's ``finalized`` block trails its head by 64 blocks. ``block_time_s`` None mines a block per
transaction (tests mine more with ``anvil_mine``); a number mines on that clock, as ``up`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from provledger.errors import ConfigurationError
from provledger.local.process import ManagedProcess, free_port

CHAIN_ID: Final = 31337
START_TIMEOUT_S: Final = 20.0
#: Where ``make install`` puts the pinned anvil (the repository's ``tools/chain``).
_TOOLS: Final = Path(__file__).resolve().parents[3] / "tools" / "chain" / "node_modules" / ".bin" / "anvil"


def find_anvil() -> Path | None:
    """The anvil binary: ``PROVLEDGER_ANVIL``, the pinned npm one, or one on ``PATH``; None if none."""
    named = os.environ.get("PROVLEDGER_ANVIL")
    if named:
        return Path(named)
    if _TOOLS.exists():
        return _TOOLS
    found = shutil.which("anvil")
    return Path(found) if found else None


def rpc_call(url: str, method: str, *params: Any) -> Any:
    """One blocking JSON-RPC call (for probes and test set-up, not the services)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        document = json.loads(answer.read())
    if "error" in document:
        raise RuntimeError(f"{method}: {document['error']}")
    return document["result"]


@dataclass
class LocalAnvil:
    """A running anvil: its URL and chain id, and the process that :meth:`stop` ends."""

    url: str
    chain_id: int
    process: ManagedProcess

    def stop(self) -> None:
        """Stop the node (its chain is gone with it: anvil keeps state in memory)."""
        self.process.stop()


@contextlib.contextmanager
def local_anvil(log_path: Path, *, block_time_s: float | None = None) -> Iterator[LocalAnvil]:
    """Yield a running anvil on a free port of 127.0.0.1; stop it on exit, also on failure."""
    binary = find_anvil()
    if binary is None:
        raise ConfigurationError(
            "anvil is not installed: install Node.js and npm, then `make install` (npm ci in tools/chain)"
        )
    port = free_port()
    argv = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(CHAIN_ID)]
    if block_time_s is not None:
        argv += ["--block-time", str(block_time_s)]
    process = ManagedProcess("anvil", argv, log_path)
    node = LocalAnvil(f"http://127.0.0.1:{port}", CHAIN_ID, process)
    try:
        process.wait_ready(lambda: rpc_call(node.url, "eth_chainId"), START_TIMEOUT_S, "answering JSON-RPC")
        yield node
    finally:
        node.stop()


@dataclass(frozen=True)
class LocalChain:
    """anvil with the anchor contract deployed, and the submitter key the anchorer signs with."""

    node: LocalAnvil
    contract: str
    key_file: Path

    def env(self) -> dict[str, str]:
        """The ``PROVLEDGER_EVM_*`` settings that point the anchorer's evm kind at this chain."""
        return {
            "PROVLEDGER_EVM_RPC_URL": self.node.url,
            "PROVLEDGER_EVM_CHAIN_ID": str(self.node.chain_id),
            "PROVLEDGER_EVM_CONTRACT": self.contract,
            "PROVLEDGER_EVM_KEY_FILE": str(self.key_file),
        }


#: A block a second, as a public chain makes them (anvil's finalized block trails by 64).
LOCAL_BLOCK_TIME_S: Final = 1.0


def start_local_chain(directory: Path, log_path: Path, children: contextlib.ExitStack) -> LocalChain | None:
    """Start anvil (stopped with ``children``), fund a new submitter key and deploy the contract.

    None when no anvil is installed. anvil keeps its chain in memory, so every start is a new
    chain: the submitter key is made anew each time too, or transactions the ledger stored for
    the previous chain (under the same key and nonces) would be sent to this one.
    """
    from provledger.anchor.evm.deploy import deploy_contract, new_key_file
    from provledger.anchor.evm.settings import read_key_file

    if find_anvil() is None:
        return None
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per JSON-RPC call on the console
    node = children.enter_context(local_anvil(log_path, block_time_s=LOCAL_BLOCK_TIME_S))
    key_file = directory / "submitter.key"
    key_file.unlink(missing_ok=True)  # it held funds only on a chain that ended with its anvil
    address = new_key_file(key_file)
    rpc_call(node.url, "anvil_setBalance", address, hex(1000 * 10**18))
    deployment = asyncio.run(deploy_contract(node.url, read_key_file(key_file), 100.0))
    return LocalChain(node, deployment.contract, key_file)
