"""The ``evm`` anchor kind (issue 21): statements anchored through a tiny contract on an EVM chain.

Each statement's SHA-256 goes on chain as ``anchor(origin, seq, digest)``, which logs
``Anchored(submitter, origin, seq, digest)``: anyone lists every anchor the ledger made with
``eth_getLogs`` on the submitter topic (``provledger monitor``), so two conflicting statements
are publicly visible. The receipt proves its log offline (header and receipts-trie proof,
:mod:`provledger.ledger.evm_receipt`); ``provledger verify --evm-rpc URL`` or
``--evm-trusted-block N:HASH`` places its block on the chain::

    kind = make_kind()                        # the anchorer: settings from PROVLEDGER_EVM_*
    fields = await kind.anchor(pool, seq, statement)  # AnchorPending until its block is final
    print(EvmReceiptVerifier(RpcChain(url))(Receipt("evm", fields), evidence))

Modules: :mod:`.settings`, :mod:`.rpc` (JSON-RPC, errors mapped once), :mod:`.blocks` (header
and receipts trie rebuilt from a node's JSON), :mod:`.kind` (sign, store, send, follow, prove),
:mod:`.verify`, :mod:`.deploy` and :mod:`.artifact` (the contract as the wheel ships it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provledger.anchor.evm.settings import GWEI, EvmSettings, read_key_file
from provledger.anchor.evm.verify import EvmReceiptVerifier, RpcChain, TrustedBlocks
from provledger.config import load

if TYPE_CHECKING:
    from provledger.anchor.evm.kind import EvmKind

__all__ = ["EvmReceiptVerifier", "EvmSettings", "RpcChain", "TrustedBlocks", "make_kind"]


def make_kind(**overrides: Any) -> EvmKind:
    """The kind from ``PROVLEDGER_EVM_*`` (``overrides`` by field name); fails closed when incomplete.

    The signing library (eth-account, about a second to import) loads only here, so
    ``provledger verify`` and the other kinds' users never pay for it.
    """
    from provledger.anchor.evm.kind import EvmKind

    settings = load(EvmSettings, **overrides)
    url, chain_id, contract, key_file = settings.require()
    return EvmKind(
        url,
        chain_id,
        contract,
        read_key_file(key_file),
        max_fee_wei=int(settings.evm_max_fee_gwei * GWEI),
        priority_fee_wei=int(settings.evm_priority_fee_gwei * GWEI),
        gas_limit=settings.evm_gas_limit,
        timeout_s=settings.evm_timeout_s,
    )
