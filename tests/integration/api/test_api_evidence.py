"""Events, runs and evidence through the real API: bundles verify offline and break on any bit flip."""

from __future__ import annotations

import base64
import random
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tests.helpers.api_harness import (
    KEY,
    LOG_ORIGIN,
    api_settings,
    assert_problem,
    client_for,
    events,
    make_tokens,
    seal,
)

from provledger.config import KafkaSettings
from provledger.errors import VerificationError
from provledger.events import Event
from provledger.events.canonical import canonical_event_id
from provledger.ledger.evidence import Evidence, verify_evidence
from provledger.ledger.keys import KeySet, SigningKey

TRUSTED = KeySet.of([KEY.verifier])
FIXED_FIELDS = {
    *("format", "event", "shard", "leaf_index", "tree_size", "inclusion_proof"),
    *("block", "checkpoint", "receipts", "keys"),
}


def _verify(document: dict[str, Any]) -> bool:
    try:
        evidence = Evidence.from_json(document)
    except VerificationError:
        return False
    return verify_evidence(evidence, TRUSTED, log_origin=LOG_ORIGIN, event_id_of=canonical_event_id).ok


def _flip(data: bytes, rng: random.Random) -> bytes:
    position = rng.randrange(len(data) * 8)
    flipped = bytearray(data)
    flipped[position // 8] ^= 1 << (position % 8)
    return bytes(flipped)


def _tampered(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy with one bit flipped in the event, a proof hash, the header or the signature."""
    copy: dict[str, Any] = {**document, "event": dict(document["event"]), "block": dict(document["block"]),
                            "inclusion_proof": list(document["inclusion_proof"])}  # fmt: skip
    slots: list[tuple[dict[str, Any] | list[str], Any]] = [
        (copy["event"], "canonical"),
        (copy["block"], "header"),
        (copy["block"], "signature"),
    ]
    slots += [(copy["inclusion_proof"], i) for i in range(len(copy["inclusion_proof"]))]
    container, key = rng.choice(slots)
    value = base64.b64decode(container[key])
    container[key] = base64.b64encode(_flip(value, rng)).decode()
    return copy


@pytest.fixture
async def sealed(database_url: str) -> list[Event]:
    batch = events(700, runs=4)
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, batch[:500], block_size=97)
        await seal(conn, batch[500:], block_size=60, partition=1)
    finally:
        await conn.close()
    return batch


async def test_evidence_of_random_events_verifies_and_any_bit_flip_breaks_it(
    sealed: list[Event], database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    rng = random.Random(6)
    async with client_for(
        api_settings(database_url, kafka_settings, tmp_path / "tokens"), tokens.read
    ) as client:
        for event in rng.sample(sealed, 25):
            response = await client.get(f"/v1/events/{event.event_id}/evidence")
            assert response.status_code == 200, response.text
            document = response.json()
            assert set(document) >= FIXED_FIELDS
            assert document["format"] == "provledger-evidence/v1"
            assert document["event"]["event_id"] == event.event_id
            assert document["receipts"] == []
            assert document["keys"] == [KEY.verifier.verifier_key_string()]
            assert document["tree_size"] == document["block"]["tree_size"]
            assert _verify(document)
            for _ in range(8):
                assert not _verify(_tampered(document, rng))
            stranger = KeySet.of([SigningKey.generate(LOG_ORIGIN).verifier])  # trust comes from the caller
            assert not verify_evidence(Evidence.from_json(document), stranger).ok


async def test_events_and_runs(
    sealed: list[Event], database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    async with client_for(
        api_settings(database_url, kafka_settings, tmp_path / "tokens"), tokens.read
    ) as client:
        event = sealed[123]
        body = (await client.get(f"/v1/events/{event.event_id}")).json()
        assert body["event_id"] == event.event_id
        assert body["run"]["run_id"] == event.run.run_id
        assert body["outputs"][0]["digest"] == event.outputs[0].digest
        assert body["attributes"] == {"i": "123"}
        assert (body["ledger"]["shard"], body["ledger"]["leaf_index"]) == (0, 123)
        assert body["evidence"] == f"/v1/events/{event.event_id}/evidence"

        run_id = event.run.run_id
        expected = {e.event_id for e in sealed if e.run.run_id == run_id}
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 50, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(f"/v1/runs/{run_id}", params=params)).json()
            seen += [e["event_id"] for e in page["events"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(expected)
        assert page["job"] == {"namespace": "vision", "name": "train"}

        missing = uuid.UUID("01890000-0000-7000-8000-000000000000")
        assert_problem(await client.get(f"/v1/events/{missing}"), 404, "event-not-found")
        assert_problem(await client.get(f"/v1/events/{missing}/evidence"), 404, "event-not-found")
        assert_problem(await client.get("/v1/events/not-a-uuid"), 422, "invalid-parameters")
        assert_problem(await client.get(f"/v1/runs/{uuid.uuid4()}"), 404, "run-not-found")
        assert_problem(
            await client.get(f"/v1/runs/{run_id}", params={"cursor": "bm9wZQ"}), 400, "invalid-cursor"
        )
        assert_problem(await client.get(f"/v1/runs/{run_id}", params={"limit": 0}), 422, "invalid-parameters")
        assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")
        assert_problem(await client.post("/v1/shards"), 405, "method-not-allowed")


async def test_evidence_without_a_stored_checkpoint_says_so(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    batch = events(3)
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, batch, block_size=3)
        # A block sealed before checkpoints were kept: the only way to remove its note is as the owner.
        await conn.execute("ALTER TABLE shard_checkpoints DISABLE TRIGGER shard_checkpoints_append_only")
        await conn.execute("DELETE FROM shard_checkpoints")
    finally:
        await conn.close()
    tokens = make_tokens(tmp_path / "tokens")
    async with client_for(
        api_settings(database_url, kafka_settings, tmp_path / "tokens"), tokens.read
    ) as client:
        body = assert_problem(
            await client.get(f"/v1/events/{batch[0].event_id}/evidence"), 404, "checkpoint-missing"
        )
        assert "block 0 of shard 0" in body["detail"]
