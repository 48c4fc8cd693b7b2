"""The evm kind against a real anvil: anchors land once across restarts, resends and reorganisations.

The anchorer is real (:func:`tests.helpers.anchoring.anchorer`) and so are Postgres, the broker
and the chain; blocks are sealed by driving the store as the sealer does. anvil mines a block
per transaction; ``chain.mine()`` makes every block so far final (anvil's finalized block trails
its head by 64).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from eth_utils.address import to_checksum_address
from tests.helpers.anchoring import anchorer
from tests.helpers.anvil import Chain, anvil_node_fixture, chain_fixture  # noqa: F401  (fixtures)
from tests.helpers.sealed_ledger import connected, register, seal_blocks

from provledger.anchor.evm import EvmReceiptVerifier, RpcChain, TrustedBlocks
from provledger.anchor.evm.accounts import Account
from provledger.anchor.evm.settings import read_key_file
from provledger.audit.run import audit_ledger
from provledger.commands.audit import receipt_checks
from provledger.config import KafkaSettings
from provledger.errors import VerificationError
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.evm_receipt import EvmReceipt, check_evm_receipt
from provledger.ledger.keys import SigningKey
from provledger.store import anchors

SEALER = SigningKey.generate("evm.test/sealer")


class DigestKind:
    """Another kind, answering at once: what a chain that is down must not hold back."""

    name = "digest"

    async def publish(self, statement: str) -> dict[str, Any]:
        return {"digest": hashlib.sha256(statement.encode()).hexdigest()}

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        return "digest"


@pytest.fixture
async def ledger(database_url: str) -> str:
    """A ledger of one shard at height 1."""
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        await seal_blocks(conn, 0, [2, 3], SEALER)
    return database_url


@pytest.fixture
async def anchorer_login(ledger: str) -> AsyncIterator[str]:
    """The test's database as a login of the anchorer group alone (least privilege, migration 0011)."""
    login, password = f"test_evm_anchorer_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    async with connected(ledger) as admin:
        await admin.execute(f"CREATE ROLE {login} LOGIN PASSWORD '{password}' IN ROLE provledger_anchorer")
        try:
            parts = urlsplit(ledger)
            yield urlunsplit(parts._replace(netloc=f"{login}:{password}@{parts.netloc.rsplit('@', 1)[-1]}"))
        finally:
            await admin.execute(f"DROP ROLE {login}")


async def stored_receipts(database_url: str) -> dict[int, dict[str, Any]]:
    async with connected(database_url) as conn:
        rows = await conn.fetch("SELECT seq, receipt FROM anchor_receipts WHERE kind = 'evm' ORDER BY seq")
    return {row["seq"]: json.loads(row["receipt"]) for row in rows}


async def stored_transactions(database_url: str) -> list[tuple[int, int, bytes]]:
    async with connected(database_url) as conn:
        rows = await conn.fetch("SELECT seq, nonce, tx_hash FROM evm_transactions ORDER BY nonce")
    return [(row["seq"], row["nonce"], bytes(row["tx_hash"])) for row in rows]


def offline_check(fields: dict[str, Any], seq: int) -> str:
    return check_evm_receipt(EvmReceipt.from_fields(fields), fields["statement"], seq)


async def test_an_anchor_is_pending_until_final_then_proven_once(
    ledger: str, anchorer_login: str, kafka_settings: KafkaSettings, chain: Chain
) -> None:
    async with anchorer(anchorer_login, kafka_settings, [chain.kind()]) as a:
        await a.tick()  # signed, stored, sent, mined: not final
        assert await stored_receipts(ledger) == {}
        assert len(chain.anchored_logs()) == 1
        assert a.metrics.failures.labels("evm")._value.get() == 0
        chain.mine()
        await a.tick()
        await a.tick()
    receipts = await stored_receipts(ledger)
    assert list(receipts) == [1]
    fields = receipts[1]
    assert fields["submitter"] == chain.submitter.lower()
    assert fields["contract"] == chain.contract
    assert offline_check(fields, 1).startswith(f"statement 1 logged by {chain.submitter.lower()}")
    assert len(chain.anchored_logs()) == 1  # never sent twice
    assert len(await stored_transactions(ledger)) == 1
    # The audit checks the stored receipt's proof offline, against the statement it anchors.
    checks = receipt_checks(None)
    async with connected(ledger) as conn:
        report = (await audit_ledger(conn, receipt_checks=checks)).anchors
    assert report is not None
    assert (report.receipts_checked, report.receipts_unchecked) == ({"evm": 1}, {})
    with pytest.raises(VerificationError, match="topics"):
        checks["evm"](Receipt("evm", fields), 2)  # the log names statement 1, not 2


async def test_a_restart_resends_the_stored_bytes_and_anchors_once(
    ledger: str, kafka_settings: KafkaSettings, chain: Chain
) -> None:
    chain.call("evm_setAutomine", False)
    async with anchorer(ledger, kafka_settings, [chain.kind()]) as a:
        await a.tick()
        await a.tick()  # still in the pool: "already known" is no failure
        assert a.metrics.failures.labels("evm")._value.get() == 0
    [(_, _, tx_hash)] = await stored_transactions(ledger)
    # The node forgets it (a crash before the send, a node restart): the stored bytes go again.
    chain.call("anvil_dropTransaction", "0x" + tx_hash.hex())
    async with anchorer(ledger, kafka_settings, [chain.kind()]) as a:
        await a.tick()
        chain.call("evm_mine")
        chain.mine()
        await a.tick()
    assert [t[2] for t in await stored_transactions(ledger)] == [tx_hash]
    assert [log["transactionHash"] for log in chain.anchored_logs()] == ["0x" + tx_hash.hex()]
    assert offline_check((await stored_receipts(ledger))[1], 1)


async def test_a_reorganisation_drops_the_anchor_and_it_is_sent_again(
    ledger: str, kafka_settings: KafkaSettings, chain: Chain
) -> None:
    snapshot = chain.call("evm_snapshot")
    async with anchorer(ledger, kafka_settings, [chain.kind()]) as a:
        await a.tick()
        [log] = chain.anchored_logs()
        dropped_block = log["blockHash"]
        chain.call("evm_revert", snapshot)  # the block holding it is gone
        assert chain.anchored_logs() == []
        chain.call("anvil_mine", "0x3")  # the chain moves on without it
        await a.tick()  # in no block: the same bytes go again
        [log] = chain.anchored_logs()
        assert log["blockHash"] != dropped_block
        chain.mine()
        await a.tick()
    fields = (await stored_receipts(ledger))[1]
    assert fields["block_hash"] == log["blockHash"]
    assert len(await stored_transactions(ledger)) == 1
    assert offline_check(fields, 1)


async def test_a_nonce_taken_by_another_transaction_is_signed_again(
    ledger: str, kafka_settings: KafkaSettings, chain: Chain
) -> None:
    chain.call("evm_setAutomine", False)
    async with anchorer(ledger, kafka_settings, [chain.kind()]) as a:
        await a.tick()
        [(_, nonce, tx_hash)] = await stored_transactions(ledger)
        chain.call("anvil_dropTransaction", "0x" + tx_hash.hex())
        account = Account.from_key(read_key_file(chain.key_file))
        other = account.sign_transaction(
            {
                "type": 2,
                "chainId": chain.node.chain_id,
                "nonce": nonce,
                "to": to_checksum_address(account.address),
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        chain.call("eth_sendRawTransaction", "0x" + bytes(other.raw_transaction).hex())
        chain.call("evm_mine")
        await a.tick()  # the nonce is spent and ours is in no block: signed with the next nonce
        chain.call("evm_mine")
        chain.mine()
        await a.tick()
    assert [(seq, n) for seq, n, _ in await stored_transactions(ledger)] == [(1, nonce), (1, nonce + 1)]
    assert offline_check((await stored_receipts(ledger))[1], 1)
    assert len(chain.anchored_logs()) == 1


async def test_a_chain_that_is_down_holds_back_no_other_kind(
    ledger: str, kafka_settings: KafkaSettings, chain: Chain
) -> None:
    down = chain.kind(evm_rpc_url="http://127.0.0.1:9/", evm_timeout_s=1.0)
    async with anchorer(ledger, kafka_settings, [down, DigestKind()]) as a:
        await a.tick()
        assert a.metrics.failures.labels("evm")._value.get() == 1
    async with connected(ledger) as conn:
        kinds = await conn.fetch("SELECT kind FROM anchor_receipts")
    assert [row["kind"] for row in kinds] == ["digest"]


async def test_a_fee_cap_below_the_base_fee_sends_nothing(
    ledger: str, kafka_settings: KafkaSettings, chain: Chain
) -> None:
    chain.call("anvil_setNextBlockBaseFeePerGas", hex(50 * 10**9))
    chain.call("evm_mine")  # the newest block's base fee is now 50 gwei
    capped = chain.kind(evm_max_fee_gwei=20, evm_priority_fee_gwei=1)
    async with anchorer(ledger, kafka_settings, [capped]) as a:
        await a.tick()
        assert a.metrics.failures.labels("evm")._value.get() == 1
    assert await stored_transactions(ledger) == []
    assert chain.anchored_logs() == []


async def test_a_wrong_chain_id_is_refused(ledger: str, kafka_settings: KafkaSettings, chain: Chain) -> None:
    with pytest.raises(VerificationError, match="serves chain 31337"):
        async with anchorer(ledger, kafka_settings, []) as a:
            await chain.kind(evm_chain_id=1).anchor(a.pool, 1, "x\n")


async def test_receipts_verify_online_and_against_a_trusted_block(
    ledger: str, kafka_settings: KafkaSettings, chain: Chain
) -> None:
    snapshot = chain.call("evm_snapshot")
    async with anchorer(ledger, kafka_settings, [chain.kind()]) as a:
        await a.tick()
        chain.mine()
        await a.tick()
    fields = (await stored_receipts(ledger))[1]
    async with connected(ledger) as conn:
        [head] = await anchors.newest_blocks(conn)
    link = {
        "seq": 1,
        "shard": 0,
        "height": head.height,
        "consistency_proof": [],
        "header": base64.b64encode(head.header).decode(),
        "signature": base64.b64encode(head.signature).decode(),
    }
    receipt = Receipt("evm", {**fields, "link": link})

    def check(verifier: EvmReceiptVerifier, checked: Receipt = receipt) -> str:
        return verifier(checked, None)

    online = await asyncio.to_thread(check, EvmReceiptVerifier(RpcChain(chain.node.url)))
    assert online.endswith(f"is canonical and final on chain 31337 at {chain.node.url}")
    trusted = TrustedBlocks.parse((f"{fields['block_number']}:{fields['block_hash']}",))
    assert check(EvmReceiptVerifier(trusted)).endswith("is the trusted block")
    other = TrustedBlocks.parse((f"{fields['block_number']}:0x{'00' * 32}",))
    with pytest.raises(VerificationError, match="not on the trusted chain"):
        check(EvmReceiptVerifier(other))
    fields_elsewhere = {**receipt.data, "block_number": fields["block_number"] + 1}
    with pytest.raises(VerificationError, match="the header is block"):
        check(EvmReceiptVerifier(None), Receipt("evm", fields_elsewhere))
    # The chain is rewritten under the receipt (as a fork the user is shown would be): it fails online.
    chain.call("evm_revert", snapshot)
    chain.mine()
    with pytest.raises(VerificationError, match="not on the canonical chain"):
        await asyncio.to_thread(check, EvmReceiptVerifier(RpcChain(chain.node.url)))
    with pytest.raises(VerificationError, match="could not check the chain"):
        await asyncio.to_thread(check, EvmReceiptVerifier(RpcChain("http://127.0.0.1:9/", timeout_s=1.0)))
