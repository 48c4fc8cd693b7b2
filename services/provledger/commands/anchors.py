"""``provledger anchors new-key`` and ``deploy-contract``: set up the evm anchor kind on a chain.

``new-key`` writes a submitter key file and prints the account to fund; ``deploy-contract``
deploys the anchor contract with that key and prints the ``PROVLEDGER_EVM_*`` lines to give the
anchorer (and the monitor's ``--contract``/``--submitter``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from provledger.anchor.evm.accounts import Account
from provledger.anchor.evm.deploy import deploy_contract, new_key_file
from provledger.anchor.evm.settings import read_key_file
from provledger.errors import ConfigurationError


def new_key_command(out: Path) -> int:
    """Write a fresh submitter key (mode 0600) and say what to do with it."""
    try:
        address = new_key_file(out)
    except FileExistsError as exc:
        raise ConfigurationError(
            f"{out} exists: a key file is never overwritten (it may hold funds)"
        ) from exc
    typer.echo(
        f"wrote {out}\nsubmitter account: {address}\nfund it with enough for the anchors (~25,000 gas each), "
        f"then: provledger anchors deploy-contract --rpc-url URL --key-file {out}"
    )
    return 0


def deploy_command(rpc_url: str, key_file: Path, max_fee_gwei: float) -> int:
    """Deploy the contract and print the settings that point the anchorer at it."""
    key = read_key_file(key_file)
    typer.echo(f"deploying the anchor contract from {Account.from_key(key).address} through {rpc_url} ...")
    deployment = asyncio.run(deploy_contract(rpc_url, key, max_fee_gwei))
    typer.echo(
        f"deployed at {deployment.contract} in block {deployment.block_number} (transaction "
        f"{deployment.tx_hash}, {deployment.gas_used} gas). Give the anchorer:\n"
        f"PROVLEDGER_ANCHOR_KINDS=evm (with any others, comma-separated)\n"
        f"PROVLEDGER_EVM_RPC_URL={rpc_url}\nPROVLEDGER_EVM_CONTRACT={deployment.contract}\n"
        f"PROVLEDGER_EVM_KEY_FILE={key_file}\nPROVLEDGER_EVM_CHAIN_ID=<the chain's id>"
    )
    return 0
