"""provledger monitor against a real anvil: the ledger's anchors are listed, a conflicting one alarms.

The ledger anchors statement 1 through the evm kind; then whoever holds the submitter's key (and
the anchorer's) anchors a second statement 1 naming another block at the same height. The
monitor finds it on chain with eth_getLogs alone, sees the API does not serve it, and, given the
forged statement, that the two name different blocks for one height.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from tests.helpers.anchoring import ANCHORER
from tests.helpers.anvil import Chain, anvil_node_fixture, chain_fixture  # noqa: F401  (fixtures)
from tests.helpers.api_harness import LOG_ORIGIN, api_settings, client_for, events
from tests.integration.anchor.test_evm_evidence import EvmLedger

from provledger.anchor.evm.accounts import Account
from provledger.anchor.evm.monitor import anchored_events, find_alarms, served_statements
from provledger.anchor.evm.settings import read_key_file
from provledger.cli import main
from provledger.config import KafkaSettings
from provledger.ledger.checkpoint import (
    ShardHead,
    heads_checkpoint,
    open_checkpoint,
    shard_heads,
    sign_checkpoint,
)
from provledger.ledger.evm_receipt import anchor_calldata


def send_forged(chain: Chain, statement: str, seq: int) -> None:
    """Anchor ``statement`` as ``seq`` with the ledger's own submitter key, as a key thief would."""
    account = Account.from_key(read_key_file(chain.key_file))
    nonce = int(chain.call("eth_getTransactionCount", account.address, "pending"), 16)
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": chain.node.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(chain.contract),
            "value": 0,
            "data": anchor_calldata(statement, seq),
            "gas": 60_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    chain.call("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
    chain.settle()  # mined before the test lists the logs


async def monitor(
    capsys: pytest.CaptureFixture[str], chain: Chain, *options: str
) -> tuple[int, dict[str, Any]]:
    """``provledger monitor --json`` (a command of its own: run outside the test's event loop)."""
    capsys.readouterr()
    args = ["--submitter", chain.submitter, "--rpc-url", chain.node.url, "--contract", chain.contract]

    def run() -> int:
        with pytest.raises(SystemExit) as exit_info:
            main(["monitor", *args, "--json", *options])
        return int(exit_info.value.code or 0)

    code = await asyncio.to_thread(run)
    return code, json.loads(capsys.readouterr().out)


async def test_the_monitor_lists_the_anchors_and_alarms_on_a_conflicting_statement(
    database_url: str,
    kafka_settings: KafkaSettings,
    chain: Chain,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = EvmLedger(database_url, kafka_settings, chain, tmp_path)
    await ledger.seal_and_anchor(events(60))
    async with client_for(
        api_settings(database_url, kafka_settings, tmp_path / "tokens"), ledger.tokens.read
    ) as api:
        served = await served_statements(api)
    assert list(served) == [1]
    submitter, contract = bytes.fromhex(chain.submitter[2:]), bytes.fromhex(chain.contract[2:])
    [anchor] = await anchored_events(chain.node.url, contract, submitter)
    assert anchor.seq == 1
    assert find_alarms([anchor], served) == []
    statements = tmp_path / "statements.json"
    statements.write_text(json.dumps(list(served.values())))
    code, report = await monitor(capsys, chain, "--statements", str(statements))
    assert code == 1  # no --api: what the chain holds is not known to be served
    assert [a["kind"] for a in report["alarms"]] == ["unserved"]

    # The same keys sign and anchor another statement 1, naming another block at the same height.
    [real_head] = shard_heads(open_checkpoint(served[1], [ANCHORER.verifier]))
    other = ShardHead(real_head.shard, real_head.height, bytes(32))
    forged = sign_checkpoint(heads_checkpoint(LOG_ORIGIN, [other]), [ANCHORER])
    send_forged(chain, forged, 1)
    anchors = await anchored_events(chain.node.url, contract, submitter)
    assert [a.seq for a in anchors] == [1, 1]
    alarms = find_alarms(anchors, served)
    assert [a.kind for a in alarms] == ["unserved", "conflict"]
    assert "statement 1 is anchored twice with different digests" in alarms[1].detail
    held = find_alarms(anchors, served, [forged])
    assert f"name different blocks as shard {real_head.shard} height {real_head.height}" in held[-1].detail

    statements.write_text(json.dumps([*served.values(), forged]))
    code, report = await monitor(capsys, chain, "--statements", str(statements), "--from-block", "1")
    assert code == 1
    assert len(report["anchors"]) == 2
    kinds = [a["kind"] for a in report["alarms"]]
    assert kinds.count("conflict") == 2
