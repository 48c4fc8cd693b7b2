"""What a chain node says is checked where it enters: malformed answers and lying blocks are refused."""

from __future__ import annotations

from typing import Any

import pytest

from provledger.anchor.evm.blocks import header_rlp, prove_receipt, receipt_bytes
from provledger.anchor.evm.rpc import JsonRpc, RpcError, data, quantity
from provledger.errors import ServiceUnavailable, VerificationError
from provledger.ledger import rlp
from provledger.ledger.mpt import keccak256

BLOCK: dict[str, Any] = {
    "parentHash": "0x" + "11" * 32,
    "sha3Uncles": "0x" + "22" * 32,
    "miner": "0x" + "33" * 20,
    "stateRoot": "0x" + "44" * 32,
    "transactionsRoot": "0x" + "55" * 32,
    "receiptsRoot": "0x" + "66" * 32,
    "logsBloom": "0x" + "00" * 256,
    "difficulty": "0x0",
    "number": "0x2a",
    "gasLimit": "0x1c9c380",
    "gasUsed": "0x5208",
    "timestamp": "0x65000000",
    "extraData": "0x",
    "mixHash": "0x" + "77" * 32,
    "nonce": "0x0000000000000000",
    "baseFeePerGas": "0x7",
}
QUANTITIES = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas"}
RECEIPT: dict[str, Any] = {
    "type": "0x2",
    "status": "0x1",
    "cumulativeGasUsed": "0x5208",
    "logsBloom": "0x" + "00" * 256,
    "logs": [{"address": "0x" + "aa" * 20, "topics": ["0x" + "bb" * 32], "data": "0x01"}],
    "transactionIndex": "0x0",
}


def _hashed(block: dict[str, Any]) -> dict[str, Any]:
    """The block with the hash its fields make, as an honest node would send it."""
    fields = [
        rlp.encode_int(int(v, 16)) if k in QUANTITIES else bytes.fromhex(v[2:]) for k, v in block.items()
    ]
    return {**block, "hash": "0x" + keccak256(rlp.encode(fields)).hex()}


@pytest.mark.parametrize("value", ["0x", "0x01", "1", "0xg", 5, None, "0x" + "f" * 65])
def test_a_quantity_has_one_spelling(value: object) -> None:
    with pytest.raises(ServiceUnavailable):
        quantity(value, "q")


def test_quantities_and_data_read() -> None:
    assert quantity("0x0", "q") == 0
    assert quantity("0x2a", "q") == 42
    assert data("0x00ff", "d") == b"\x00\xff"
    for bad in ("00", "0x0", "0xzz", 7):
        with pytest.raises(ServiceUnavailable):
            data(bad, "d")
    with pytest.raises(ServiceUnavailable, match="is 1 bytes, not 32"):
        data("0x00", "d", 32)


@pytest.mark.parametrize(
    "answer",
    [b"not json", b"[]", b'{"id": 2, "result": 1}', b'{"id": 1}', b'{"id": 1, "result": 1, "error": {}}'],
)
def test_an_answer_that_is_not_our_json_rpc_response_is_unavailable(answer: bytes) -> None:
    with pytest.raises(ServiceUnavailable):
        JsonRpc("http://node")._result("m", 1, answer)


def test_an_error_answer_carries_the_nodes_words() -> None:
    with pytest.raises(RpcError, match="nonce too low") as caught:
        JsonRpc("http://node")._result(
            "m", 1, b'{"id": 1, "error": {"code": -32000, "message": "nonce too low"}}'
        )
    assert caught.value.code == -32000


def test_an_honest_header_rebuilds_and_a_changed_field_does_not() -> None:
    block = _hashed(BLOCK)
    assert keccak256(header_rlp(block)) == bytes.fromhex(block["hash"][2:])
    with pytest.raises(VerificationError, match="does not hash to its hash"):
        header_rlp({**block, "gasUsed": "0x5209"})
    with pytest.raises(VerificationError, match="has no stateRoot"):
        header_rlp({k: v for k, v in block.items() if k != "stateRoot"})


def test_receipts_that_do_not_make_the_receipts_root_are_refused() -> None:
    encoded = receipt_bytes(RECEIPT)
    assert encoded[0] == 2  # EIP-2718: the type byte, then the RLP payload
    liar = _hashed(BLOCK)  # its receiptsRoot is not the trie of RECEIPT
    with pytest.raises(VerificationError, match="do not make the block's receiptsRoot"):
        prove_receipt(liar, [RECEIPT], 0)
    with pytest.raises(VerificationError, match="do not hold transaction 1"):
        prove_receipt(liar, [RECEIPT], 1)
    with pytest.raises(VerificationError, match="not an EIP-2718 transaction type"):
        receipt_bytes({**RECEIPT, "type": "0x80"})
    with pytest.raises(VerificationError, match="log without topics"):
        receipt_bytes({**RECEIPT, "logs": [{"address": "0x" + "aa" * 20}]})
