"""Rebuild a block's header and receipts trie from a node's JSON, and prove one receipt in it.

A node's JSON is not trusted: the header rebuilt from it must hash to the block hash the node
named, and the receipts trie rebuilt from its receipts must have the header's ``receiptsRoot``,
or the evidence is not built (:class:`~provledger.errors.VerificationError`). The proof handed
out is then exactly what :func:`provledger.ledger.evm_receipt.check_evm_receipt` checks offline.

SPEC: Ethereum Yellow Paper 4.3, the header fields in order (parentHash, ommersHash, beneficiary,
stateRoot, transactionsRoot, receiptsRoot, logsBloom, difficulty, number, gasLimit, gasUsed,
timestamp, extraData, mixHash, nonce), then the fields forks appended: EIP-1559 baseFeePerGas,
EIP-4895 withdrawalsRoot, EIP-4844 blobGasUsed and excessBlobGas, EIP-4788
parentBeaconBlockRoot, EIP-7685 requestsHash. EIP-2718: a typed receipt is
"TransactionType || ReceiptPayload", a legacy one (type 0) its RLP alone; the trie key is
"rlp(index)". Receipt payload: rlp([status, cumulativeGasUsed, logsBloom, logs]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from provledger.anchor.evm.rpc import data, quantity
from provledger.errors import VerificationError
from provledger.ledger import mpt, rlp
from provledger.ledger.mpt import keccak256

#: Header fields in RLP order: the JSON name and whether it is a quantity (else data).
HEADER_FIELDS: Final = (
    ("parentHash", False),
    ("sha3Uncles", False),
    ("miner", False),
    ("stateRoot", False),
    ("transactionsRoot", False),
    ("receiptsRoot", False),
    ("logsBloom", False),
    ("difficulty", True),
    ("number", True),
    ("gasLimit", True),
    ("gasUsed", True),
    ("timestamp", True),
    ("extraData", False),
    ("mixHash", False),
    ("nonce", False),
    ("baseFeePerGas", True),
    ("withdrawalsRoot", False),
    ("blobGasUsed", True),
    ("excessBlobGas", True),
    ("parentBeaconBlockRoot", False),
    ("requestsHash", False),
)
_ALWAYS: Final = 15


def header_rlp(block: Mapping[str, Any]) -> bytes:
    """The RLP header of a block as ``eth_getBlockBy*`` returns it; checked against its ``hash``."""
    fields: list[bytes] = []
    for position, (name, is_quantity) in enumerate(HEADER_FIELDS):
        if name not in block or block[name] is None:
            if position < _ALWAYS:
                raise VerificationError(f"the node's block has no {name}")
            break  # forks only ever append fields: the first absent one ends the header
        value = block[name]
        fields.append(rlp.encode_int(quantity(value, name)) if is_quantity else data(value, name))
    encoded = rlp.encode(fields)
    if keccak256(encoded) != data(block.get("hash"), "block hash", 32):
        raise VerificationError(
            f"the header rebuilt from block {block.get('number')} does not hash to its hash: "
            "the node lies, or the chain has header fields this provledger does not know"
        )
    return encoded


def receipt_bytes(receipt: Mapping[str, Any]) -> bytes:
    """A transaction receipt from ``eth_getBlockReceipts`` as the receipts trie holds it."""
    kind = quantity(receipt.get("type", "0x0"), "receipt type")
    logs = receipt.get("logs")
    if not isinstance(logs, list):
        raise VerificationError("the node's receipt has no list of logs")
    entries: list[rlp.Encodable] = []
    for log in logs:
        if not isinstance(log, dict) or not isinstance(log.get("topics"), list):
            raise VerificationError("the node's receipt has a log without topics")
        entries.append(
            [
                data(log.get("address"), "log address", 20),
                [data(t, "log topic", 32) for t in log["topics"]],
                data(log.get("data"), "log data"),
            ]
        )
    payload = rlp.encode(
        [
            rlp.encode_int(quantity(receipt.get("status"), "receipt status")),
            rlp.encode_int(quantity(receipt.get("cumulativeGasUsed"), "receipt cumulativeGasUsed")),
            data(receipt.get("logsBloom"), "receipt logsBloom", 256),
            entries,
        ]
    )
    if kind > 0x7F:
        raise VerificationError(f"receipt type {kind} is not an EIP-2718 transaction type")
    return payload if kind == 0 else bytes([kind]) + payload


@dataclass(frozen=True, slots=True)
class ReceiptProof:
    """One receipt proven in its block: the header, the receipt's index and the trie proof."""

    header_rlp: bytes
    receipt_index: int
    proof: tuple[bytes, ...]


def prove_receipt(
    block: Mapping[str, Any], receipts: Sequence[Mapping[str, Any]], index: int
) -> ReceiptProof:
    """The proof of receipt ``index`` of ``block``, after checking the node's JSON against itself."""
    header = header_rlp(block)
    entries: dict[bytes, bytes] = {}
    for receipt in receipts:
        position = quantity(receipt.get("transactionIndex"), "receipt transactionIndex")
        entries[rlp.encode(rlp.encode_int(position))] = receipt_bytes(receipt)
    key = rlp.encode(rlp.encode_int(index))
    if len(entries) != len(receipts) or key not in entries:
        raise VerificationError(f"the node's receipts of the block do not hold transaction {index} once")
    root, proof = mpt.prove(entries, key)
    if root != data(block.get("receiptsRoot"), "receiptsRoot", 32):
        raise VerificationError("the receipts the node gave do not make the block's receiptsRoot")
    return ReceiptProof(header, index, proof)
