"""Deploy the anchor contract, and make a submitter key: what ``provledger anchors`` does on a chain.

Deployment is one contract-creation transaction with the committed bytecode
(:mod:`.artifact`), signed locally; its receipt names the contract's address, which
``PROVLEDGER_EVM_CONTRACT`` then holds. The code at that address is read back and must be the
contract's runtime code as the creation left it (non-empty), so a failed creation is never
configured.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from provledger.anchor.evm.accounts import Account
from provledger.anchor.evm.artifact import artifact
from provledger.anchor.evm.rpc import JsonRpc, data, quantity
from provledger.anchor.evm.settings import GWEI
from provledger.errors import ServiceUnavailable, VerificationError
from provledger.ledger.evm_receipt import to_hex

#: A creation of the ~300-byte contract costs ~110,000 gas (measured on anvil).
DEPLOY_GAS_LIMIT: Final = 300_000
RECEIPT_WAIT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where the contract landed, by which transaction, at what cost."""

    contract: str
    tx_hash: str
    block_number: int
    gas_used: int


def new_key_file(path: Path) -> str:
    """Write a fresh secp256k1 private key (64 hex digits, mode 0600) to ``path``; its address."""
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="ascii") as out:  # never overwrite a key that may hold funds
        path.chmod(0o600)
        out.write(key.hex() + "\n")
    return str(Account.from_key(key).address)


async def deploy_contract(
    rpc_url: str, private_key: bytes, max_fee_gwei: float, timeout_s: float = 10.0
) -> Deployment:
    """Send the creation transaction, wait for its receipt, and check code is at the address."""
    account = Account.from_key(private_key)
    async with JsonRpc(rpc_url, timeout_s) as rpc:
        chain_id = quantity(await rpc.call("eth_chainId"), "chain id")
        nonce = quantity(await rpc.call("eth_getTransactionCount", account.address, "pending"), "nonce")
        latest = await rpc.call("eth_getBlockByNumber", "latest", False)
        if not isinstance(latest, dict):
            raise ServiceUnavailable(f"the node at {rpc_url} has no latest block")
        base_fee = quantity(latest.get("baseFeePerGas", "0x0"), "base fee")
        tip = min(GWEI, int(max_fee_gwei * GWEI))
        signed = account.sign_transaction(
            {
                "type": 2,
                "chainId": chain_id,
                "nonce": nonce,
                "value": 0,
                "data": artifact().bytecode,
                "gas": DEPLOY_GAS_LIMIT,
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": min(int(max_fee_gwei * GWEI), 2 * base_fee + tip),
            }
        )
        tx_hash = to_hex(bytes(signed.hash))
        await rpc.call("eth_sendRawTransaction", to_hex(bytes(signed.raw_transaction)))
        receipt = None
        async with asyncio.timeout(RECEIPT_WAIT_S):
            while receipt is None:
                receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
                if receipt is None:
                    await asyncio.sleep(0.5)
        if not isinstance(receipt, dict) or quantity(receipt.get("status"), "status") != 1:
            raise VerificationError(f"the contract creation {tx_hash} failed")
        contract = to_hex(data(receipt.get("contractAddress"), "contract address", 20))
        if not data(await rpc.call("eth_getCode", contract, "latest"), "code"):
            raise ServiceUnavailable(f"no code at {contract} after creation {tx_hash}")
        block, gas = quantity(receipt.get("blockNumber"), "block"), quantity(receipt.get("gasUsed"), "gas")
        return Deployment(contract, tx_hash, block, gas)
