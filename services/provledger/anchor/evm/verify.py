"""Check ``evm`` receipts: the offline proof, then the block's place on the chain the user trusts.

Offline (:func:`~provledger.ledger.evm_receipt.check_evm_receipt`) a receipt shows that its log
is in a block with a given hash; that the block is on the canonical chain needs a source the user
chooses:

- :class:`TrustedBlocks`, ``provledger verify --evm-trusted-block N:HASH`` (repeatable): the
  receipt's block must be one of them, height and hash (taken from an explorer or node the user
  trusts; no network);
- :class:`RpcChain`, ``--evm-rpc URL``: a node the user chooses must serve the receipt's chain,
  the same hash at that height, a ``finalized`` block at or above it, and the transaction there.

Without either, ``provledger verify`` reports the receipt unchecked (the proof holds, the chain is
unknown) and ``--require evm`` refuses to run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Protocol

from provledger.anchor.evm.rpc import JsonRpc, data, quantity
from provledger.errors import ConfigurationError, ProvledgerError, VerificationError
from provledger.ledger.anchoring import AnchorLink
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.evm_receipt import RECEIPT_TYPE, EvmReceipt, check_evm_receipt, to_hex

_TRUSTED_BLOCK: Final = re.compile(r"(\d{1,19}):(0x[0-9a-fA-F]{64})")


class CanonicalChain(Protocol):
    """Decides whether a proven block is on the chain the user trusts; raises VerificationError if not."""

    def check(self, receipt: EvmReceipt) -> str: ...


class TrustedBlocks:
    """Blocks the user vouches for, by height: ``--evm-trusted-block N:HASH``."""

    def __init__(self, blocks: Mapping[int, bytes]) -> None:
        if not blocks:
            raise ConfigurationError("no trusted block given: evm receipts cannot be placed on a chain")
        self.blocks = dict(blocks)

    @classmethod
    def parse(cls, options: tuple[str, ...]) -> TrustedBlocks:
        """From ``N:0xHASH`` texts; ConfigurationError naming the one that is not."""
        blocks: dict[int, bytes] = {}
        for option in options:
            match = _TRUSTED_BLOCK.fullmatch(option.strip())
            if match is None:
                raise ConfigurationError(
                    f"--evm-trusted-block {option!r} is not N:HASH (a block number, a colon, 0x and 64 hex "
                    "digits), e.g. 21000000:0x5c...; take both from a node or explorer you trust"
                )
            height, block_hash = int(match[1]), bytes.fromhex(match[2][2:])
            if blocks.get(height, block_hash) != block_hash:
                raise ConfigurationError(f"--evm-trusted-block names two hashes for block {height}")
            blocks[height] = block_hash
        return cls(blocks)

    def check(self, receipt: EvmReceipt) -> str:
        """The receipt's block is one of the trusted ones."""
        trusted = self.blocks.get(receipt.block_number)
        if trusted is None:
            raise VerificationError(
                f"block {receipt.block_number} is not among the trusted blocks "
                f"({', '.join(map(str, sorted(self.blocks)))}): pass --evm-trusted-block for it"
            )
        if trusted != receipt.block_hash:
            raise VerificationError(
                f"block {receipt.block_number} is {to_hex(receipt.block_hash)}, the trusted block there is "
                f"{to_hex(trusted)}: the receipt's block is not on the trusted chain"
            )
        return f"block {receipt.block_number} is the trusted block"


class RpcChain:
    """A JSON-RPC node the user chooses: ``--evm-rpc URL``."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"--evm-rpc {url!r} is not an http:// or https:// URL")
        self.url = url
        self.timeout_s = timeout_s

    def check(self, receipt: EvmReceipt) -> str:
        """Ask the node (the answer's transport errors are reported as this check failing)."""
        try:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(self._check(receipt))
            # Called from inside an event loop (an async caller of this sync check): ask from a thread.
            with ThreadPoolExecutor(1) as worker:
                return worker.submit(asyncio.run, self._check(receipt)).result()
        except ProvledgerError as exc:
            if isinstance(exc, VerificationError):
                raise
            raise VerificationError(f"could not check the chain at {self.url}: {exc}") from exc

    async def _check(self, receipt: EvmReceipt) -> str:
        async with JsonRpc(self.url, self.timeout_s) as rpc:
            chain_id = quantity(await rpc.call("eth_chainId"), "chain id")
            if chain_id != receipt.chain_id:
                raise VerificationError(f"the node serves chain {chain_id}, the receipt {receipt.chain_id}")
            block = await rpc.call("eth_getBlockByNumber", hex(receipt.block_number), False)
            if not isinstance(block, dict) or data(block.get("hash"), "block hash", 32) != receipt.block_hash:
                raise VerificationError(
                    f"the chain's block {receipt.block_number} is not {to_hex(receipt.block_hash)}: "
                    "the receipt's block is not on the canonical chain"
                )
            finalized = await rpc.call("eth_getBlockByNumber", "finalized", False)
            final = -1 if not isinstance(finalized, dict) else quantity(finalized.get("number"), "finalized")
            if final < receipt.block_number:
                raise VerificationError(f"block {receipt.block_number} is not final yet (finalized: {final})")
            found = await rpc.call("eth_getTransactionReceipt", to_hex(receipt.tx_hash))
            if (
                not isinstance(found, dict)
                or data(found.get("blockHash"), "receipt block hash", 32) != receipt.block_hash
                or quantity(found.get("transactionIndex"), "transaction index") != receipt.receipt_index
            ):
                raise VerificationError(
                    f"transaction {to_hex(receipt.tx_hash)} is not {receipt.receipt_index} in the block"
                )
        return f"block {receipt.block_number} is canonical and final on chain {chain_id} at {self.url}"


class EvmReceiptVerifier:
    """A :class:`~provledger.ledger.evidence.ReceiptVerifier` for ``evm`` receipts.

    ``chain`` None checks the proof alone: the kind's own check, and what ``provledger verify``
    reports as unchecked.
    """

    def __init__(self, chain: CanonicalChain | None) -> None:
        self.chain = chain

    def __call__(self, receipt: Receipt, evidence: Evidence | None, /) -> str:
        """The log is in the block (offline), and with a chain source the block is canonical."""
        if receipt.type != RECEIPT_TYPE:
            raise VerificationError(f"not an {RECEIPT_TYPE} receipt")
        return self.check(receipt.data, AnchorLink.from_json(receipt.data.get("link")).seq)

    def check(self, data: Mapping[str, object], seq: int) -> str:
        """The same on a receipt's fields, for the statement numbered ``seq`` (the link's)."""
        statement = data.get("statement")
        if not isinstance(statement, str):
            raise VerificationError("the evm receipt has no string 'statement'")
        fields = EvmReceipt.from_fields(data)
        proven = check_evm_receipt(fields, statement, seq)
        if self.chain is None:
            return proven
        return f"{proven}; {self.chain.check(fields)}"
