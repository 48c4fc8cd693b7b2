"""evm receipts in evidence, end to end: seal, anchor on anvil, fetch the bundle, `provledger verify`.

Real Postgres, the broker, anvil and the in-process API (``tests/helpers/api_harness.py``). The
receipt's proof is checked offline; its block's place on the chain with ``--evm-rpc`` or
``--evm-trusted-block``, and without either the receipt is unchecked and ``--require evm``
refuses to run. Any single changed byte of the header, the proof (the log is in its last node),
the log's fields or the link fails.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.anchoring import ANCHORER, anchorer
from tests.helpers.anvil import Chain, anvil_node_fixture, chain_fixture  # noqa: F401  (fixtures)
from tests.helpers.api_harness import KEY, LOG_ORIGIN, events, make_tokens
from tests.integration.anchor.test_evidence_receipts import Ledger, seal_events

from provledger.commands.verify import check_bundle, evm_chain, receipt_verifiers
from provledger.config import KafkaSettings
from provledger.events import Event
from provledger.ledger.keys import KeySet

BLOCK = 40


class EvmLedger(Ledger):
    """The rfc3161 tests' ledger (bundles from the API, ``provledger verify`` on them), anchored on anvil."""

    def __init__(self, database_url: str, kafka: KafkaSettings, chain: Chain, tmp_path: Path) -> None:
        # Not the base's: no TSA here, and the anchorer is the anchoring helper's.
        self.database_url, self.kafka, self.chain, self.tmp_path = database_url, kafka, chain, tmp_path
        self.keys_file = tmp_path / "trusted-keys.txt"
        self.keys_file.write_text(
            f"{KEY.verifier.verifier_key_string()}\n{ANCHORER.verifier.verifier_key_string()}\n"
        )
        self.trusted = KeySet.of([KEY.verifier, ANCHORER.verifier])
        self.tokens = make_tokens(tmp_path / "tokens")

    async def seal_and_anchor(self, batch: list[Event]) -> None:
        """Seal ``batch``, then anchor a statement over it on the chain until its receipt is final."""
        await seal_events(self.database_url, batch)
        async with anchorer(self.database_url, self.kafka, [self.chain.kind()]) as replica:
            replica.options = dataclasses.replace(replica.options, log_origin=LOG_ORIGIN)  # the API's ledger
            await replica.tick()
            self.chain.mine()
            await replica.tick()


@pytest.fixture
async def anchored(
    database_url: str, kafka_settings: KafkaSettings, chain: Chain, tmp_path: Path
) -> tuple[EvmLedger, dict[str, Any]]:
    ledger = EvmLedger(database_url, kafka_settings, chain, tmp_path)
    batch = events(60)
    await ledger.seal_and_anchor(batch)
    document = await ledger.bundle(batch[10])
    [receipt] = document["receipts"]
    assert receipt["type"] == "evm"
    return ledger, document


async def test_a_bundle_verifies_online_against_a_trusted_block_and_is_unchecked_without(
    anchored: tuple[EvmLedger, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, document = anchored
    receipt = document["receipts"][0]
    code, out = ledger.verify(capsys, document)
    assert code == 0, out
    assert "whether that block is on the canonical chain is unchecked" in out
    code, out = ledger.verify(capsys, document, "--require", "evm")
    assert code == 2  # the reason: tests/unit/verify/test_verify_evm.py
    code, out = ledger.verify(capsys, document, "--require", "evm", "--evm-rpc", ledger.chain.node.url)
    assert code == 0, out
    assert "receipt[0]:evm: statement 1 signed by" in out
    assert f"is canonical and final on chain 31337 at {ledger.chain.node.url}" in out
    trusted = f"{receipt['block_number']}:{receipt['block_hash']}"
    code, out = ledger.verify(capsys, document, "--require", "evm", "--evm-trusted-block", trusted)
    assert code == 0, out
    code, out = ledger.verify(capsys, document, "--require", "evm", "--evm-trusted-block", f"1:0x{'ab' * 32}")
    assert code == 1
    assert "is not among the trusted blocks" in out
    code, out = ledger.verify(capsys, document, "--evm-trusted-block", "12:beef")
    assert code == 2
    code, out = ledger.verify(
        capsys, document, "--evm-trusted-block", trusted, "--evm-rpc", ledger.chain.node.url
    )
    assert code == 2


def _flip_hex(text: str, at: int) -> str:
    data = bytearray(bytes.fromhex(text[2:]))
    data[at] ^= 0x01
    return "0x" + data.hex()


def _flip_b64(text: str, at: int) -> str:
    data = bytearray(base64.b64decode(text))
    data[at] ^= 0x01
    return base64.b64encode(bytes(data)).decode()


def _size(hex_text: str) -> int:
    return (len(hex_text) - 2) // 2


def _flip_field(receipt: dict[str, Any], field: str, at: int) -> None:
    receipt[field] = _flip_hex(receipt[field], at)


def _flip_proof(receipt: dict[str, Any], node: int, at: int) -> None:
    receipt["receipt_proof"][node] = _flip_hex(receipt["receipt_proof"][node], at)


def _flip_link_header(receipt: dict[str, Any], at: int) -> None:
    receipt["link"]["header"] = _flip_b64(receipt["link"]["header"], at)


async def test_any_single_changed_byte_fails_the_receipt(anchored: tuple[EvmLedger, dict[str, Any]]) -> None:
    ledger, document = anchored
    receipt = document["receipts"][0]
    trusted = evm_chain(None, (f"{receipt['block_number']}:{receipt['block_hash']}",))
    verifiers = receipt_verifiers(None, ("evm",), None, trusted)

    def failed(change: Callable[[dict[str, Any]], None]) -> list[str]:
        changed = copy.deepcopy(document)
        change(changed["receipts"][0])
        verdict = check_bundle(changed, ledger.trusted, LOG_ORIGIN, verifiers=verifiers, required=("evm",))
        return [c.name for c in verdict.checks if c.status.value == "failed"]

    assert failed(lambda r: None) == []
    changes: list[Callable[[dict[str, Any]], None]] = []
    changes += [partial(_flip_field, field="header_rlp", at=at) for at in range(_size(receipt["header_rlp"]))]
    for node, text in enumerate(receipt["receipt_proof"]):  # the log's fields are in the last node
        changes += [partial(_flip_proof, node=node, at=at) for at in range(_size(text))]
    for field in ("contract", "submitter", "block_hash"):
        changes += [partial(_flip_field, field=field, at=at) for at in range(_size(receipt[field]))]
    link_header = len(base64.b64decode(receipt["link"]["header"]))
    changes += [partial(_flip_link_header, at=at) for at in range(link_header)]
    changes += [
        lambda r: r.update(statement=r["statement"].replace("\n", "\n ", 1)),
        lambda r: r.update(block_number=r["block_number"] + 1),
        lambda r: r.update(receipt_index=r["receipt_index"] + 1),
        lambda r: r.update(log_index=r["log_index"] + 1),
        lambda r: r["link"].update(seq=r["link"]["seq"] + 1),
    ]
    for number, change in enumerate(changes):
        assert failed(change) == ["receipt[0]:evm", "anchor-policy"], number
