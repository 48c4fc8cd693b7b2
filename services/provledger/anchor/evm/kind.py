"""The evm kind's life of one statement: sign, store, send, follow until final, prove.

Each tick the anchorer hands the kind every statement it owes (:meth:`EvmKind.anchor`):

1. no transaction stored for the statement: sign ``anchor(origin, seq, digest)`` with the next
   free nonce (one past both the highest stored and the chain's pending count), the fee capped
   by ``PROVLEDGER_EVM_MAX_FEE_GWEI``, store it, then send it;
2. stored but not in a block: send the very same bytes again (after a restart, or after a
   reorganisation dropped it); "already known" or "nonce too low" means the node has it or
   mined it. If the chain's count of mined transactions has passed its nonce while it is in no
   block, another transaction of the same key took the nonce, and the statement is signed
   again with a fresh nonce;
3. in a block: pending until that block is at or below the chain's ``finalized`` block with its
   hash unchanged at its height; then the header and receipts are read, the receipt proven
   (:mod:`.blocks`) and checked as a verifier would (:func:`~provledger.ledger.evm_receipt.check_evm_receipt`)
   before it is returned.

Every state but the last raises :class:`~provledger.anchor.kinds.AnchorPending`; a chain that is
away raises :class:`~provledger.errors.ServiceUnavailable`, which backs off this kind alone.
"""

from __future__ import annotations

from typing import Any, Final

import asyncpg
from eth_utils.address import to_checksum_address

from provledger import logs
from provledger.anchor.evm.accounts import Account, LocalAccount
from provledger.anchor.evm.blocks import prove_receipt
from provledger.anchor.evm.rpc import JsonRpc, RpcError, data, quantity
from provledger.anchor.evm.settings import GWEI
from provledger.anchor.evm.verify import EvmReceiptVerifier
from provledger.errors import AnchorPending, ServiceUnavailable, VerificationError
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.evm_receipt import (
    ANCHORED_TOPIC,
    RECEIPT_TYPE,
    EvmReceipt,
    anchor_calldata,
    check_evm_receipt,
    to_hex,
)
from provledger.store import evm as store
from provledger.store.evm import NonceTaken, StoredTransaction

#: What nodes answer when a transaction sent again is already in their pool or already mined
#: (geth, erigon, besu, reth, anvil spell it in these ways).
_ALREADY_SENT: Final = (
    "already known",
    "known transaction",
    "nonce too low",
    "already imported",
    "alreadyknown",
)

_log = logs.get_logger(__name__)


class EvmKind:
    """A :class:`~provledger.anchor.kinds.StatefulAnchorKind` anchoring through one contract on one chain."""

    def __init__(
        self,
        rpc_url: str,
        chain_id: int,
        contract: bytes,
        private_key: bytes,
        *,
        max_fee_wei: int,
        priority_fee_wei: int,
        gas_limit: int,
        timeout_s: float,
    ) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self.contract = contract
        self.account: LocalAccount = Account.from_key(private_key)
        self.submitter = bytes.fromhex(self.account.address[2:])
        self.max_fee_wei = max_fee_wei
        self.priority_fee_wei = priority_fee_wei
        self.gas_limit = gas_limit
        self.timeout_s = timeout_s
        self.verifier = EvmReceiptVerifier(None)

    @property
    def name(self) -> str:
        """``evm``, the receipt type."""
        return RECEIPT_TYPE

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        """The receipt's offline proof (the kind trusts its own node for the chain's canonical blocks)."""
        return self.verifier(receipt, evidence)

    async def in_flight(self, pool: asyncpg.Pool, up_to: int) -> list[int]:
        """Statements with a stored transaction and no receipt yet, up to ``up_to``."""
        async with pool.acquire() as conn:
            return await store.in_flight(conn, RECEIPT_TYPE, self.chain_id, self.submitter, up_to)

    async def anchor(self, pool: asyncpg.Pool, seq: int, statement: str) -> dict[str, Any]:
        """Move statement ``seq`` one step on (module docstring); its receipt's fields once final."""
        async with JsonRpc(self.rpc_url, self.timeout_s) as rpc:
            chain_id = quantity(await rpc.call("eth_chainId"), "chain id")
            if chain_id != self.chain_id:
                raise VerificationError(
                    f"the node at {self.rpc_url} serves chain {chain_id}, "
                    f"not PROVLEDGER_EVM_CHAIN_ID {self.chain_id}"
                )
            async with pool.acquire() as conn:
                tx = await store.latest_transaction(conn, seq, self.chain_id, self.submitter)
            if tx is None:
                await self._sign_and_send(rpc, pool, seq, statement)
                raise AnchorPending(f"statement {seq} sent")
            found = await rpc.call("eth_getTransactionReceipt", to_hex(tx.tx_hash))
            if found is None:
                await self._resend(rpc, pool, tx, statement)
                raise AnchorPending(f"statement {seq}: transaction {to_hex(tx.tx_hash)} is in no block yet")
            return await self._final_receipt(rpc, found, tx, statement)

    async def _sign_and_send(self, rpc: JsonRpc, pool: asyncpg.Pool, seq: int, statement: str) -> None:
        pending = quantity(
            await rpc.call("eth_getTransactionCount", self.account.address, "pending"), "transaction count"
        )
        latest = await rpc.call("eth_getBlockByNumber", "latest", False)
        if not isinstance(latest, dict):
            raise ServiceUnavailable(f"the node at {self.rpc_url} has no latest block")
        base_fee = quantity(latest.get("baseFeePerGas", "0x0"), "base fee")
        if base_fee + self.priority_fee_wei > self.max_fee_wei:
            raise ServiceUnavailable(
                f"the chain's base fee is {base_fee / GWEI:.3f} gwei: above the fee cap "
                f"PROVLEDGER_EVM_MAX_FEE_GWEI ({self.max_fee_wei / GWEI:.3f} gwei) less the tip; waiting"
            )
        async with pool.acquire() as conn:
            nonce = max(pending, await store.next_nonce(conn, self.chain_id, self.submitter))
            signed = self.account.sign_transaction(
                {
                    "type": 2,
                    "chainId": self.chain_id,
                    "nonce": nonce,
                    "to": to_checksum_address(self.contract),
                    "value": 0,
                    "data": anchor_calldata(statement, seq),
                    "gas": self.gas_limit,
                    "maxPriorityFeePerGas": self.priority_fee_wei,
                    "maxFeePerGas": min(self.max_fee_wei, 2 * base_fee + self.priority_fee_wei),
                }
            )
            tx = StoredTransaction(
                seq, self.chain_id, self.submitter, nonce, bytes(signed.hash), bytes(signed.raw_transaction)
            )
            try:
                await store.insert_transaction(conn, tx)  # stored before it is sent: a restart resends it
            except NonceTaken as exc:
                raise ServiceUnavailable(f"{exc}: another anchorer is signing with this key") from exc
        _log.info("evm anchor signed", seq=seq, nonce=nonce, tx_hash=to_hex(tx.tx_hash))
        await self._send(rpc, tx)

    async def _send(self, rpc: JsonRpc, tx: StoredTransaction) -> None:
        try:
            await rpc.call("eth_sendRawTransaction", to_hex(tx.raw))
        except RpcError as exc:
            if any(answer in exc.message.lower() for answer in _ALREADY_SENT):
                return
            refused = f"the chain refused anchor transaction {to_hex(tx.tx_hash)}: {exc}"
            raise ServiceUnavailable(refused) from exc

    async def _resend(self, rpc: JsonRpc, pool: asyncpg.Pool, tx: StoredTransaction, statement: str) -> None:
        mined = quantity(
            await rpc.call("eth_getTransactionCount", self.account.address, "latest"), "transaction count"
        )
        if mined > tx.nonce and await rpc.call("eth_getTransactionByHash", to_hex(tx.tx_hash)) is None:
            # The nonce was spent, and not by this transaction (the node knows it nowhere): sign anew.
            _log.warning("evm anchor nonce taken by another transaction; signing again",
                         seq=tx.seq, nonce=tx.nonce, tx_hash=to_hex(tx.tx_hash))  # fmt: skip
            await self._sign_and_send(rpc, pool, tx.seq, statement)
            return
        await self._send(rpc, tx)

    async def _final_receipt(
        self, rpc: JsonRpc, found: dict[str, Any], tx: StoredTransaction, statement: str
    ) -> dict[str, Any]:
        number = quantity(found.get("blockNumber"), "receipt block number")
        block_hash = data(found.get("blockHash"), "receipt block hash", 32)
        if quantity(found.get("status"), "receipt status") != 1:
            raise VerificationError(f"anchor transaction {to_hex(tx.tx_hash)} failed in block {number}")
        finalized = await rpc.call("eth_getBlockByNumber", "finalized", False)
        if not isinstance(finalized, dict) or quantity(finalized.get("number"), "finalized number") < number:
            raise AnchorPending(f"statement {tx.seq}: block {number} is not final yet")
        block = await rpc.call("eth_getBlockByNumber", hex(number), False)
        if not isinstance(block, dict) or data(block.get("hash"), "block hash", 32) != block_hash:
            raise AnchorPending(f"statement {tx.seq}: block {number} was replaced; following the chain")
        receipts = await rpc.call("eth_getBlockReceipts", to_hex(block_hash))
        if not isinstance(receipts, list):
            raise ServiceUnavailable(f"the node at {self.rpc_url} gave no receipts for block {number}")
        index = quantity(found.get("transactionIndex"), "transaction index")
        proof = prove_receipt(block, receipts, index)
        logs_ = found.get("logs")
        position = next(
            (
                i
                for i, log in enumerate(logs_ if isinstance(logs_, list) else [])
                if isinstance(log, dict)
                and log.get("address", "").lower() == to_hex(self.contract)
                and log.get("topics", [None])[0] == to_hex(ANCHORED_TOPIC)
            ),
            None,
        )
        if position is None:
            raise VerificationError(f"anchor transaction {to_hex(tx.tx_hash)} logged no Anchored event")
        receipt = EvmReceipt(
            self.chain_id, self.contract, self.submitter, tx.tx_hash, number, block_hash, position,
            proof.header_rlp, index, proof.proof,
        )  # fmt: skip
        check_evm_receipt(receipt, statement, tx.seq)
        return {"statement": statement, **receipt.to_json()}
