"""verify's evm options: where the canonical chain comes from, and what it refuses."""

from __future__ import annotations

import pytest

from provledger.anchor.evm.verify import EvmReceiptVerifier, RpcChain, TrustedBlocks
from provledger.commands.verify import evm_chain, receipt_verifiers
from provledger.errors import ConfigurationError

HASH = "0x" + "ab" * 32


def test_the_source_of_trust_is_one_option() -> None:
    assert evm_chain(None, ()) is None
    assert isinstance(evm_chain("http://127.0.0.1:8545", ()), RpcChain)
    trusted = evm_chain(None, (f"12:{HASH}", f"13:{HASH.upper().replace('0X', '0x')}"))
    assert isinstance(trusted, TrustedBlocks)
    assert trusted.blocks == {12: bytes.fromhex("ab" * 32), 13: bytes.fromhex("ab" * 32)}
    with pytest.raises(ConfigurationError, match="not both"):
        evm_chain("http://127.0.0.1:8545", (f"12:{HASH}",))


@pytest.mark.parametrize(
    "option", ["12", f"x:{HASH}", "12:beef", f"-1:{HASH}", f"12:{HASH}00", f"1 2:{HASH}"]
)
def test_a_trusted_block_that_is_not_n_colon_hash_is_refused(option: str) -> None:
    with pytest.raises(ConfigurationError, match="is not N:HASH"):
        TrustedBlocks.parse((option,))


def test_two_hashes_for_one_height_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="two hashes for block 12"):
        TrustedBlocks.parse((f"12:{HASH}", f"12:0x{'cd' * 32}"))


def test_an_rpc_url_must_be_http() -> None:
    with pytest.raises(ConfigurationError, match="not an http"):
        RpcChain("file:///etc/passwd")


def test_evm_receipts_are_always_proven_and_required_only_with_a_chain() -> None:
    verifier = receipt_verifiers(None)["evm"]
    assert isinstance(verifier, EvmReceiptVerifier)
    assert verifier.chain is None
    with pytest.raises(ConfigurationError, match="--require evm needs --evm-rpc URL"):
        receipt_verifiers(None, ("evm",))
    assert receipt_verifiers(None, ("evm",), None, TrustedBlocks({1: bytes(32)}))["evm"]
