"""``evm`` receipts: a statement's digest logged on an Ethereum-compatible chain, proven offline.

The anchorer calls ``anchor(origin, seq, digest)`` on provledger's stateless contract, which logs
``Anchored(submitter, origin, seq, digest)``. The receipt carries the block header and a
Merkle-Patricia proof of the transaction's receipt against the header's ``receiptsRoot``::

    {"type": "evm", "statement": "<signed note>", "link": {...},
     "chain_id": 1, "contract": "0x<20 bytes>", "submitter": "0x<20 bytes>",
     "tx_hash": "0x<32 bytes>", "block_number": 123, "block_hash": "0x<32 bytes>",
     "log_index": 0, "header_rlp": "0x...", "receipt_index": 4, "receipt_proof": ["0x...", ...]}

:func:`check_evm_receipt` shows, with no I/O, that the log entry is in block ``block_hash``:
Keccak-256 of ``header_rlp`` is ``block_hash`` and the header's number is ``block_number``; the
proof holds under the header's ``receiptsRoot`` for the key ``rlp(receipt_index)``; the receipt
succeeded; and its log number ``log_index`` (counted within this transaction's receipt, which
makes it checkable offline) is the contract's ``Anchored`` event with ``submitter``,
SHA-256 of the statement's origin line, the link's ``seq`` and SHA-256 of the statement.
Whether that block is on the canonical chain is the one thing an offline check cannot know:
``provledger verify --evm-rpc URL`` or ``--evm-trusted-block N:HASH`` decides it
(:mod:`provledger.anchor.evm.verify`). ``tx_hash`` and ``chain_id`` are labels offline (the
receipts trie holds neither); the online check compares both.

SPEC: EIP-2718: "the receipt [...] is TransactionType || ReceiptPayload" for typed transactions,
and the receipts trie key is "rlp(index)". EIP-658: the first receipt field is "status": 1 for
success. Ethereum Yellow Paper 4.3: the block hash is KEC(RLP(header)), ``receiptsRoot`` its
6th field and ``number`` its 9th; 4.3.1: a log entry is "(Oa, Ot, Od)", address, topics, data.
Solidity ABI: an event's first topic is the Keccak-256 of its signature, then its indexed
arguments each as one 32-byte word (an address or uint64 left-padded with zeros).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from provledger.errors import VerificationError
from provledger.ledger import mpt, rlp
from provledger.ledger.mpt import keccak256

RECEIPT_TYPE: Final = "evm"
EVENT_SIGNATURE: Final = "Anchored(address,bytes32,uint64,bytes32)"
FUNCTION_SIGNATURE: Final = "anchor(bytes32,uint64,bytes32)"
#: The first topic of every ``Anchored`` log.
ANCHORED_TOPIC: Final = keccak256(EVENT_SIGNATURE.encode())
#: The 4 bytes that select ``anchor`` in a call's data.
ANCHOR_SELECTOR: Final = keccak256(FUNCTION_SIGNATURE.encode())[:4]

#: Bounds on what a bundle may make the verifier hash: a header is ~600 bytes, and a proof of a
#: receipt in a block of thousands of transactions ~3 KiB plus the receipt itself.
MAX_HEADER_BYTES: Final = 8 << 10
MAX_PROOF_BYTES: Final = 1 << 20
_UINT64: Final = (1 << 64) - 1
_HEX: Final = re.compile(r"0x(?:[0-9a-f]{2})*")
#: Header fields up to ``nonce`` exist in every Ethereum header; later forks append more.
_HEADER_MIN_FIELDS: Final = 15
_RECEIPTS_ROOT, _NUMBER = 5, 8


def word(value: bytes | int) -> bytes:
    """One 32-byte ABI word: an address or integer left-padded with zeros, a bytes32 as it is."""
    data = value.to_bytes(32, "big") if isinstance(value, int) else value
    if len(data) > 32:
        raise ValueError("an ABI word holds at most 32 bytes")
    return data.rjust(32, b"\x00")


def origin_hash(statement: str) -> bytes:
    """SHA-256 of the statement's first line, the ledger's log origin: the ``origin`` topic."""
    return hashlib.sha256(statement.split("\n", 1)[0].encode()).digest()


def statement_digest(statement: str) -> bytes:
    """SHA-256 of the signed statement note's UTF-8 bytes, exactly as signed: the log's data."""
    try:
        return hashlib.sha256(statement.encode()).digest()
    except UnicodeEncodeError as exc:  # JSON can carry lone surrogates, which have no UTF-8 bytes
        raise VerificationError(f"the statement is not Unicode text: {exc}") from exc


def anchor_calldata(statement: str, seq: int) -> bytes:
    """The data of the ``anchor(origin, seq, digest)`` call that anchors statement ``seq``."""
    return ANCHOR_SELECTOR + origin_hash(statement) + word(seq) + statement_digest(statement)


def anchored_topics(submitter: bytes, statement: str, seq: int) -> tuple[bytes, ...]:
    """The four topics of the ``Anchored`` log that anchors statement ``seq`` sent by ``submitter``."""
    return (ANCHORED_TOPIC, word(submitter), origin_hash(statement), word(seq))


def hex_bytes(value: object, what: str, size: int | None = None, limit: int = MAX_PROOF_BYTES) -> bytes:
    """Strict ``0x``-prefixed lowercase hex of whole bytes (of ``size`` bytes when given)."""
    if not isinstance(value, str) or len(value) > 2 + 2 * limit or not _HEX.fullmatch(value):
        raise VerificationError(f"evm receipt {what} is not 0x-prefixed lowercase hex of whole bytes")
    data = bytes.fromhex(value[2:])
    if size is not None and len(data) != size:
        raise VerificationError(f"evm receipt {what} is {len(data)} bytes, not {size}")
    return data


def to_hex(data: bytes) -> str:
    """``data`` as the receipt writes bytes: ``0x`` and lowercase hex."""
    return "0x" + data.hex()


def _uint(fields: Mapping[str, Any], key: str, low: int = 0) -> int:
    found = fields.get(key)
    if type(found) is not int or not low <= found <= _UINT64:
        raise VerificationError(f"evm receipt {key} is missing or not an integer from {low} to 2**64-1")
    return found


@dataclass(frozen=True, slots=True)
class EvmReceipt:
    """An ``evm`` receipt's own fields (besides ``statement`` and ``link``), read strictly."""

    chain_id: int
    contract: bytes
    submitter: bytes
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    log_index: int
    header_rlp: bytes
    receipt_index: int
    receipt_proof: tuple[bytes, ...]

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> EvmReceipt:
        """Read the JSON fields: integers in range, hex of the right sizes, bounded proof."""
        proof = fields.get("receipt_proof")
        if not isinstance(proof, list) or not 1 <= len(proof) <= mpt.MAX_PROOF_NODES:
            raise VerificationError(
                f"evm receipt receipt_proof is not a list of 1 to {mpt.MAX_PROOF_NODES} nodes"
            )
        nodes = tuple(hex_bytes(node, "receipt_proof node") for node in proof)
        if sum(map(len, nodes)) > MAX_PROOF_BYTES:
            raise VerificationError(f"evm receipt receipt_proof holds more than {MAX_PROOF_BYTES} bytes")
        return cls(
            chain_id=_uint(fields, "chain_id", 1),
            contract=hex_bytes(fields.get("contract"), "contract", 20),
            submitter=hex_bytes(fields.get("submitter"), "submitter", 20),
            tx_hash=hex_bytes(fields.get("tx_hash"), "tx_hash", 32),
            block_number=_uint(fields, "block_number"),
            block_hash=hex_bytes(fields.get("block_hash"), "block_hash", 32),
            log_index=_uint(fields, "log_index"),
            header_rlp=hex_bytes(fields.get("header_rlp"), "header_rlp", limit=MAX_HEADER_BYTES),
            receipt_index=_uint(fields, "receipt_index"),
            receipt_proof=nodes,
        )

    def to_json(self) -> dict[str, Any]:
        """The fields as a receipt holds them (no ``type``, ``statement`` or ``link``)."""
        return {
            "chain_id": self.chain_id,
            "contract": to_hex(self.contract),
            "submitter": to_hex(self.submitter),
            "tx_hash": to_hex(self.tx_hash),
            "block_number": self.block_number,
            "block_hash": to_hex(self.block_hash),
            "log_index": self.log_index,
            "header_rlp": to_hex(self.header_rlp),
            "receipt_index": self.receipt_index,
            "receipt_proof": [to_hex(node) for node in self.receipt_proof],
        }


@dataclass(frozen=True, slots=True)
class Log:
    """One log entry of a transaction receipt: the emitting address, its topics and data."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


def header_number_and_receipts_root(header_rlp: bytes) -> tuple[int, bytes]:
    """A block header's ``number`` and ``receiptsRoot``; an error for anything that is not a header."""
    fields = rlp.as_list(rlp.decode(header_rlp), "block header")
    if len(fields) < _HEADER_MIN_FIELDS:
        raise VerificationError(f"block header has {len(fields)} fields, fewer than {_HEADER_MIN_FIELDS}")
    root = rlp.as_bytes(fields[_RECEIPTS_ROOT], "header receiptsRoot", 32)
    number = rlp.decode_int(rlp.as_bytes(fields[_NUMBER], "header number"), "header number")
    return number, root


def receipt_logs(encoded: bytes) -> tuple[bool, tuple[Log, ...]]:
    """Whether an encoded (EIP-2718 typed or legacy) receipt succeeded, and its logs."""
    if not encoded:
        raise VerificationError("the transaction receipt is empty")
    if encoded[0] < 0x80:  # SPEC EIP-2718: TransactionType is "in the range [0, 0x7f]"
        encoded = encoded[1:]
    fields = rlp.as_list(rlp.decode(encoded), "transaction receipt", 4)
    status = rlp.as_bytes(fields[0], "receipt status")
    logs = []
    for number, entry in enumerate(rlp.as_list(fields[3], "receipt logs")):
        address, topics, data = rlp.as_list(entry, f"receipt log {number}", 3)
        logs.append(
            Log(
                rlp.as_bytes(address, f"log {number} address", 20),
                tuple(rlp.as_bytes(t, f"log {number} topic", 32) for t in rlp.as_list(topics, "log topics")),
                rlp.as_bytes(data, f"log {number} data"),
            )
        )
    return status == b"\x01", tuple(logs)


def check_evm_receipt(receipt: EvmReceipt, statement: str, seq: int) -> str:
    """Offline: the ``Anchored`` log of statement ``seq`` is in block ``receipt.block_hash``.

    Raises :class:`VerificationError` naming the first check that fails (module docstring).
    """
    if keccak256(receipt.header_rlp) != receipt.block_hash:
        raise VerificationError("Keccak-256 of header_rlp is not block_hash")
    number, receipts_root = header_number_and_receipts_root(receipt.header_rlp)
    if number != receipt.block_number:
        raise VerificationError(f"the header is block {number}, the receipt says {receipt.block_number}")
    key = rlp.encode(rlp.encode_int(receipt.receipt_index))
    encoded = mpt.verify_proof(receipts_root, key, receipt.receipt_proof)
    succeeded, logs = receipt_logs(encoded)
    if not succeeded:
        raise VerificationError(f"transaction {receipt.receipt_index} of the block failed (status not 1)")
    if receipt.log_index >= len(logs):
        raise VerificationError(f"the transaction receipt has {len(logs)} logs, no log {receipt.log_index}")
    log = logs[receipt.log_index]
    if log.address != receipt.contract:
        raise VerificationError(f"the log was emitted by {to_hex(log.address)}, not the contract")
    expected = anchored_topics(receipt.submitter, statement, seq)
    if log.topics != expected:
        raise VerificationError(
            "the log's topics are not Anchored(submitter, SHA-256 of the statement's origin, seq "
            f"{seq}) by {to_hex(receipt.submitter)}"
        )
    if log.data != statement_digest(statement):
        raise VerificationError("the log's digest is not SHA-256 of the statement")
    return (
        f"statement {seq} logged by {to_hex(receipt.submitter)} through contract {to_hex(receipt.contract)} "
        f"in block {receipt.block_number} ({to_hex(receipt.block_hash)}) of chain {receipt.chain_id}"
    )
