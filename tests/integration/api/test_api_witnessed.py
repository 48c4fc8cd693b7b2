"""Witness cosignatures in the API: ``/tlog/{shard}/checkpoint`` and the ``tlog-witness`` receipt of bundles.

Real Postgres, blocks sealed as the sealer seals them, cosignatures made over the stored
checkpoint notes with the witness's own code (:mod:`tests.helpers.cosigned`) or returned by a
real ``provledger witness`` process; the API runs in-process.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tests.helpers.api_harness import KEY, LOG_ORIGIN, api_settings, client_for, events, make_tokens, seal
from tests.helpers.cosigned import BASE_TIME, cosignature_line, store_cosignature, stored_note, witness
from tests.helpers.witness_logs import (
    SampleLog,
    free_witness_port,
    running_witness,
    witness_env,
    witness_key,
)

from provledger.anchor.tlog_witness.verify import TlogWitnessReceiptVerifier
from provledger.config import KafkaSettings
from provledger.events import Event
from provledger.ledger.block import BlockHeader
from provledger.ledger.checkpoint import Checkpoint, open_checkpoint
from provledger.ledger.cosignature import cosigner
from provledger.ledger.evidence import Evidence, verify_evidence
from provledger.ledger.keys import KeySet, SigningKey
from provledger.ledger.merkle import verify_consistency
from provledger.ledger.note import NoteSignature, open_note, parse_note
from provledger.store import witnessed
from provledger.store.tiles import consistency_proof
from provledger.witness.protocol import format_add_checkpoint, parse_cosignatures

BLOCK = 40
SHARD_ORIGIN = "api.test/ledger/shard/0"


class Api:
    """The test's sealed shard 0 and an API client reading it."""

    def __init__(self, conn: asyncpg.Connection, client: httpx.AsyncClient, batch: list[Event]) -> None:
        self.conn, self.client, self.batch = conn, client, batch

    async def bundle(self, event: Event) -> dict[str, Any]:
        response = await self.client.get(f"/v1/events/{event.event_id}/evidence")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        Evidence.from_json(document)  # the bundle still reads strictly with its new receipt
        return document

    async def checkpoint(self) -> str:
        response = await self.client.get("/tlog/0/checkpoint")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        return response.text


@pytest.fixture
async def api(
    conn: asyncpg.Connection, database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> AsyncIterator[Api]:
    batch = events(160)
    await seal(conn, batch, block_size=BLOCK)  # blocks 0-3: tree sizes 40, 80, 120, 160
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    async with client_for(settings, tokens.read) as client:
        yield Api(conn, client, batch)


def _witness_receipts(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in document["receipts"] if r["type"] == "tlog-witness"]


async def test_the_checkpoint_carries_the_newest_blocks_cosignatures_only(api: Api) -> None:
    one, two = witness("witness.test/alice"), witness("witness.test/bob")
    assert await api.checkpoint() == await stored_note(api.conn, 0, 160)  # nothing cosigned: the plain note

    await store_cosignature(api.conn, 0, 120, one)  # an older checkpoint's cosignature is not served
    assert await api.checkpoint() == await stored_note(api.conn, 0, 160)

    lines = [await store_cosignature(api.conn, 0, 160, key, BASE_TIME + 5) for key in (one, two)]
    served = await api.checkpoint()
    assert served == await stored_note(api.conn, 0, 160) + "".join(
        line + "\n" for line in sorted(lines, key=lambda line: served.index(line))
    )
    # A tlog client that knows only the log's key still reads it (unknown keys are ignored)...
    assert open_checkpoint(served, [KEY.verifier]).size == 160
    # ...and one that knows the witnesses verifies each cosignature over the same checkpoint.
    for key in (one, two):
        opened = open_note(served, [cosigner(key)])
        assert [s.name for s in opened.verified] == [key.name]
    assert {s.name for s in open_note(served, [KEY.verifier, cosigner(one), cosigner(two)]).verified} == {
        KEY.name,
        one.name,
        two.name,
    }


async def test_a_stored_line_that_does_not_verify_is_left_out_not_served(api: Api) -> None:
    """Any such line would make clients reject the whole note; audit names its row instead."""
    alice, bob, mallory = (witness(f"witness.test/{name}") for name in ("alice", "bob", "mallory"))
    await store_cosignature(api.conn, 0, 160, alice)
    smuggled = "— witness.test/mallory AAAA\n\nforged text\n"  # passes the table's CHECK, breaks a note
    await store_cosignature(api.conn, 0, 160, mallory, line=smuggled)
    await store_cosignature(api.conn, 0, 160, witness("witness.test/eve"), line="— witness.test/eve !!")
    older = cosignature_line(await stored_note(api.conn, 0, 120), bob, BASE_TIME)  # bob's, of size 120
    await store_cosignature(api.conn, 0, 160, bob, line=older)
    as_sealer = NoteSignature(KEY.name, KEY.key_id, bytes(64)).line()  # "signed" by the log's own key
    await store_cosignature(api.conn, 0, 160, witness("witness.test/trent"), line=as_sealer)
    served = await api.checkpoint()
    assert [s.name for s in parse_note(served).signatures] == [KEY.name, alice.name]
    assert "forged text" not in served
    receipt = _witness_receipts(await api.bundle(api.batch[150]))[0]  # the bundle endpoint still answers
    assert [s.name for s in parse_note(receipt["checkpoint"]).signatures] == [KEY.name, alice.name]


async def test_a_bundle_carries_the_smallest_cosigned_checkpoint_at_or_above_its_tree(api: Api) -> None:
    alice, bob = witness("witness.test/alice"), witness("witness.test/bob")
    assert _witness_receipts(await api.bundle(api.batch[50])) == []  # block 1, nothing cosigned yet
    await store_cosignature(api.conn, 0, 120, alice)
    await store_cosignature(api.conn, 0, 120, bob, BASE_TIME + 1)
    await store_cosignature(api.conn, 0, 160, alice, BASE_TIME + 10)

    early = await api.bundle(api.batch[10])  # block 0 (tree 40): cosigned at 120, proof 40 -> 120
    (receipt,) = _witness_receipts(early)
    assert set(receipt) == {"type", "checkpoint", "consistency_proof"}
    header = BlockHeader.from_bytes(base64.b64decode(early["block"]["header"]))
    checkpoint = open_checkpoint(receipt["checkpoint"], [KEY.verifier])
    assert checkpoint.size == 120
    proof = [base64.b64decode(h) for h in receipt["consistency_proof"]]
    verify_consistency(header.tree_size, checkpoint.size, header.log_root, checkpoint.root, proof)
    assert {s.name for s in open_note(receipt["checkpoint"], [cosigner(alice), cosigner(bob)]).verified} == {
        alice.name,
        bob.name,
    }
    assert (early["anchored"], early["next_anchor_due"]) == (True, None)
    assert KEY.verifier.verifier_key_string() in early["keys"]

    exact = _witness_receipts(await api.bundle(api.batch[100]))[0]  # block 2: tree 120 itself
    assert exact["consistency_proof"] == []
    assert exact["checkpoint"] == receipt["checkpoint"]

    last = _witness_receipts(await api.bundle(api.batch[150]))[0]  # block 3: only alice at 160
    assert Checkpoint.parse(parse_note(last["checkpoint"]).text).size == 160
    assert [s.name for s in parse_note(last["checkpoint"]).signatures] == [KEY.name, alice.name]


async def test_store_reads_answer_for_each_size(api: Api) -> None:
    key = witness("witness.test/carol")
    assert await witnessed.covering_cosigned(api.conn, 0, 1) is None
    await store_cosignature(api.conn, 0, 80, key)
    for size, expected in [(1, 80), (40, 80), (80, 80), (81, None), (10**12, None)]:
        found = await witnessed.covering_cosigned(api.conn, 0, size)
        assert (found and found.tree_size) == expected, size
    assert await witnessed.covering_cosigned(api.conn, 1, 1) is None  # another shard's rows never answer
    newest = await witnessed.newest_checkpoint(api.conn, 0)
    assert newest is not None
    assert (newest.height, newest.tree_size, newest.lines) == (3, 160, ())
    assert await witnessed.newest_checkpoint(api.conn, 1) is None


async def test_a_checkpoint_a_witness_missed_gives_way_to_the_first_they_all_cosigned(api: Api) -> None:
    alice, bob = witness("witness.test/alice"), witness("witness.test/bob")
    await store_cosignature(api.conn, 0, 80, alice)  # bob was down: only alice cosigned 80
    for key in (alice, bob):  # the anchorer's next round: both cosign 120, then 160
        await store_cosignature(api.conn, 0, 120, key, BASE_TIME + 10)
        await store_cosignature(api.conn, 0, 160, key, BASE_TIME + 20)
    receipt = _witness_receipts(await api.bundle(api.batch[10]))[0]  # block 0: tree 40
    assert Checkpoint.parse(parse_note(receipt["checkpoint"]).text).size == 120
    assert len(parse_note(receipt["checkpoint"]).signatures) == 3
    assert _verify(await api.bundle(api.batch[10]), alice, bob)["receipt[0]:tlog-witness"][0] == "passed"
    found = await witnessed.covering_cosigned(api.conn, 0, 120)
    assert found is not None
    assert found.tree_size == 120  # at or above 120 both witnesses' first is 120 itself


async def test_a_real_witness_cosigns_what_the_api_serves(api: Api, tmp_path: Path) -> None:
    """Stored checkpoints go to a real ``provledger witness``; its answers, stored, verify from the API."""
    log = SampleLog(SHARD_ORIGIN, KEY)  # only origin and key: the witness's logs file
    env = witness_env(tmp_path, [log], free_witness_port())
    note = await stored_note(api.conn, 0, 80)
    newest = await stored_note(api.conn, 0, 160)
    with running_witness(env, tmp_path / "witness.log") as process:
        first = process.add(format_add_checkpoint(0, [], note))
        assert first.status_code == 200, first.text
        proof = await consistency_proof(api.conn, 0, 80, 160)
        second = process.add(format_add_checkpoint(80, proof, newest))
        assert second.status_code == 200, second.text
    for size, answer, text in [(80, first, note), (160, second, newest)]:
        (line,) = parse_cosignatures(answer.content, parse_note(text).text)
        await store_cosignature(api.conn, 0, size, witness_key(), line=line.line().rstrip("\n"))

    served = await api.checkpoint()
    assert [s.name for s in open_note(served, [cosigner(witness_key())]).verified] == [witness_key().name]
    bundle = await api.bundle(api.batch[45])  # block 1: tree 80
    receipt = _witness_receipts(bundle)[0]
    assert receipt["consistency_proof"] == []
    assert open_note(receipt["checkpoint"], [KEY.verifier, cosigner(witness_key())]).verified
    verdict = _verify(bundle, witness_key())
    assert verdict["receipt[0]:tlog-witness"][0] == "passed", verdict


def _verify(document: dict[str, Any], *witnesses: SigningKey) -> dict[str, tuple[str, str]]:
    """The offline verdict under a policy requiring all ``witnesses``: check name -> (status, detail)."""
    policy = "".join(
        f"witness w{i} {cosigner(key).verifier_key_string()}\n" for i, key in enumerate(witnesses)
    )
    policy += (
        f"group all-of-them all {' '.join(f'w{i}' for i in range(len(witnesses)))}\nquorum all-of-them\n"
    )
    verdict = verify_evidence(
        Evidence.from_json(document),
        KeySet.of([KEY.verifier]),
        receipt_verifiers={"tlog-witness": TlogWitnessReceiptVerifier.from_policy_text(policy)},
        required_receipts=("tlog-witness",),
        log_origin=LOG_ORIGIN,
    )
    return {c.name: (c.status.value, c.detail) for c in verdict.checks}


async def test_bundles_verify_offline_under_a_two_of_two_policy(api: Api) -> None:
    alice, bob = witness("witness.test/alice"), witness("witness.test/bob")
    await store_cosignature(api.conn, 0, 120, alice)
    await store_cosignature(api.conn, 0, 120, bob, BASE_TIME + 1)
    await store_cosignature(api.conn, 0, 160, alice, BASE_TIME + 10)

    both = _verify(await api.bundle(api.batch[10]), alice, bob)  # block 0: proof 40 -> 120
    assert [c for c in both.items() if c[1][0] == "failed"] == []
    witnessed_checks = [c for name, c in both.items() if "tlog-witness" in name]
    assert witnessed_checks, both
    assert all(status == "passed" for status, _ in witnessed_checks), both

    only_alice = _verify(await api.bundle(api.batch[150]), alice, bob)  # block 3: bob never cosigned 160
    failed = {name: detail for name, (status, detail) in only_alice.items() if status == "failed"}
    assert set(failed) == {"receipt[0]:tlog-witness", "anchor-policy"}, only_alice
    assert "not met" in failed["receipt[0]:tlog-witness"]
