"""Receipts in evidence, end to end: seal, anchor with a real TSA, fetch the bundle, `provledger verify`.

Real Postgres, the broker (the anchorer's checkpoints topic) and the local TSA; the API runs
in-process (``tests/helpers/api_harness.py``). A bundle asked for before its block is anchored
says so and fails ``--require``; once anchored it verifies with ``--require rfc3161`` and fails,
with a reason, after any single-byte change to its statement, token, link or proof.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tests.helpers.api_harness import KEY, LOG_ORIGIN, api_settings, client_for, events, make_tokens, seal

from provledger.anchor.kinds import AnchorKind
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.rfc3161 import make_kind
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.anchor.topic import CheckpointTopic
from provledger.cli import main
from provledger.commands.verify import check_bundle, receipt_verifiers
from provledger.config import KafkaSettings
from provledger.events import Event
from provledger.ledger.keys import KeySet, SigningKey
from provledger.local.tsa import LocalTsa
from provledger.store.db import create_pool

ANCHORER = SigningKey.generate("evidence.test/anchorer")
INTERVAL_S = 30.0
BLOCK = 40


@asynccontextmanager
async def anchorer(
    database_url: str, kafka: KafkaSettings, kinds: list[AnchorKind]
) -> AsyncIterator[Anchorer]:
    """The active anchorer of the test's ledger, with the given kinds, publishing to the test's topic."""
    pool = await create_pool(database_url)
    topic = CheckpointTopic(kafka.require_kafka_bootstrap(), kafka.topic_checkpoints, "evidence-test")
    metrics = AnchorerMetrics(tuple(kind.name for kind in kinds))
    try:
        replica = Anchorer(pool, ANCHORER, kinds, topic, AnchorerOptions(LOG_ORIGIN, 0.05, 3600.0), metrics)
        await replica.take_over()
        yield replica
    finally:
        await topic.stop()
        await pool.close()


async def seal_events(database_url: str, batch: list[Event]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, batch, block_size=BLOCK)
    finally:
        await conn.close()


class Ledger:
    """The test's ledger: seal, anchor and fetch bundles through the API, verify them with the CLI."""

    def __init__(self, database_url: str, kafka: KafkaSettings, tsa: LocalTsa, tmp_path: Path) -> None:
        self.database_url, self.kafka, self.tsa, self.tmp_path = database_url, kafka, tsa, tmp_path
        self.keys_file = tmp_path / "trusted-keys.txt"
        self.keys_file.write_text(
            f"{KEY.verifier.verifier_key_string()}\n{ANCHORER.verifier.verifier_key_string()}\n"
        )
        self.trusted = KeySet.of([KEY.verifier, ANCHORER.verifier])
        self.verifiers = receipt_verifiers(tsa.roots_file, ("rfc3161",))
        self.tokens = make_tokens(tmp_path / "tokens")  # once: names are unique in a tokens file

    async def anchor(self, *kinds: str) -> None:
        """One anchorer round with the named kinds (``rfc3161`` is the local TSA)."""
        built = [make_kind(tsa_urls=self.tsa.url, tsa_roots_file=self.tsa.roots_file) for _ in kinds]
        async with anchorer(self.database_url, self.kafka, list(built)) as replica:
            await replica.tick()
            assert replica.fork is None

    async def bundle(self, event: Event) -> dict[str, Any]:
        tokens = self.tokens
        settings = api_settings(
            self.database_url, self.kafka, self.tmp_path / "tokens", anchor_interval_s=INTERVAL_S
        )
        async with client_for(settings, tokens.read) as client:
            response = await client.get(f"/v1/events/{event.event_id}/evidence")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    def verify(
        self, capsys: pytest.CaptureFixture[str], document: dict[str, Any], *options: str
    ) -> tuple[int, str]:
        """``provledger verify --json`` on the bundle: its exit code and every check's detail, one a line."""
        path = self.tmp_path / "evidence.json"
        path.write_text(json.dumps(document))
        args = [str(path), "--trusted-keys", str(self.keys_file), "--log-origin", LOG_ORIGIN, "--json"]
        capsys.readouterr()  # what the anchorer and API logged before
        with pytest.raises(SystemExit) as exit_info:
            main(["verify", *args, *options])
        report = json.loads(capsys.readouterr().out)
        return int(exit_info.value.code or 0), "\n".join(
            f"{c['name']}: {c['detail']}" for c in report["checks"]
        )

    def failures(self, document: dict[str, Any]) -> dict[str, str]:
        verdict = check_bundle(
            document, self.trusted, LOG_ORIGIN, verifiers=self.verifiers, required=("rfc3161",)
        )
        return {c.name: c.detail for c in verdict.checks if c.status.value == "failed"}


@pytest.fixture
def ledger(
    database_url: str, kafka_settings: KafkaSettings, local_tsa_server: LocalTsa, tmp_path: Path
) -> Ledger:
    return Ledger(database_url, kafka_settings, local_tsa_server, tmp_path)


def _require(ledger: Ledger) -> tuple[str, ...]:
    return ("--require", "rfc3161", "--tsa-roots", str(ledger.tsa.roots_file))


async def test_a_bundle_says_when_it_is_not_anchored_then_verifies_once_it_is(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = events(200)
    await seal_events(ledger.database_url, batch[:120])  # blocks 0-2
    event = batch[50]  # block 1

    never = await ledger.bundle(event)
    assert (never["anchored"], never["next_anchor_due"], never["receipts"]) == (False, None, [])
    code, out = ledger.verify(capsys, never, *_require(ledger))
    assert code == 1
    assert "not anchored yet (the anchorer has signed no statement yet)" in out
    assert "fetch the bundle again" in out

    # Statement 1 is stored with no kind configured: it covers the block but nothing anchors it.
    await ledger.anchor()
    pending = await ledger.bundle(event)
    assert (pending["anchored"], pending["receipts"]) == (False, [])
    due = datetime.fromisoformat(pending["next_anchor_due"])
    assert abs(due - (datetime.now(due.tzinfo) + timedelta(seconds=INTERVAL_S))) < timedelta(seconds=10)
    code, out = ledger.verify(capsys, pending, *_require(ledger))
    assert code == 1
    assert "the next statement is due at" in out

    # The TSA kind starts with statement 2, after more blocks: statement 1 never gets one, so the
    # block's receipt comes from statement 2, the earliest covering it that has an rfc3161 receipt.
    await seal_events(ledger.database_url, batch[120:])  # blocks 3-4
    await ledger.anchor("rfc3161")
    anchored = await ledger.bundle(event)
    assert (anchored["anchored"], anchored["next_anchor_due"]) == (True, None)
    [receipt] = anchored["receipts"]
    assert receipt["type"] == "rfc3161"
    assert {k: receipt["link"][k] for k in ("seq", "shard", "height")} == {"seq": 2, "shard": 0, "height": 4}
    assert len(receipt["link"]["consistency_proof"]) >= 2
    assert ANCHORER.verifier.verifier_key_string() in anchored["keys"]
    code, out = ledger.verify(capsys, anchored, *_require(ledger))
    assert code == 0, out
    assert "statement 2 signed by evidence.test/anchorer" in out
    assert "timestamped by CN=provledger test TSA at 20" in out
    assert await ledger.bundle(event) == anchored  # immutable once anchored

    # Without the anchorer's key among the trusted ones the receipt cannot hold.
    ledger.keys_file.write_text(KEY.verifier.verifier_key_string() + "\n")
    code, out = ledger.verify(capsys, anchored, *_require(ledger))
    assert code == 1
    assert "add the anchorer's verifier key" in out


def _flip_b64(text: str, rng: random.Random) -> str:
    data = bytearray(base64.b64decode(text))
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return base64.b64encode(bytes(data)).decode()


def _change_char(text: str, rng: random.Random) -> str:
    position = rng.randrange(len(text))
    replacement = "B" if text[position] == "A" else "A"
    return text[:position] + replacement + text[position + 1 :]


Tamper = Callable[[dict[str, Any], random.Random], None]
TAMPERS: dict[str, Tamper] = {
    "statement": lambda r, rng: r.update(statement=_change_char(r["statement"], rng)),
    "token": lambda r, rng: r.update(responses=[_flip_b64(r["responses"][0], rng)]),
    "link header": lambda r, rng: r["link"].update(header=_flip_b64(r["link"]["header"], rng)),
    "link signature": lambda r, rng: r["link"].update(signature=_flip_b64(r["link"]["signature"], rng)),
    "proof hash": lambda r, rng: r["link"]["consistency_proof"].__setitem__(
        i := rng.randrange(len(r["link"]["consistency_proof"])),
        _flip_b64(r["link"]["consistency_proof"][i], rng),
    ),
    "link height": lambda r, rng: r["link"].update(height=r["link"]["height"] + rng.choice([-1, 1])),
    "link shard": lambda r, rng: r["link"].update(shard=r["link"]["shard"] + 1),
}


async def test_any_single_change_to_a_receipt_fails_with_a_reason(ledger: Ledger) -> None:
    batch = events(100)
    await seal_events(ledger.database_url, batch[:60])  # blocks 0-1
    await ledger.anchor("rfc3161")  # statement 1 names head 1
    await seal_events(ledger.database_url, batch[60:])  # blocks 2 and 3 (of 20 events)
    await ledger.anchor("rfc3161")  # statement 2 names head 3
    at_head, below = await ledger.bundle(batch[45]), await ledger.bundle(batch[5])
    assert at_head["receipts"][0]["link"]["consistency_proof"] == []  # block 1 is statement 1's head
    assert (below["receipts"][0]["link"]["seq"], below["receipts"][0]["link"]["height"]) == (1, 1)
    late = await ledger.bundle(batch[99])
    assert late["receipts"][0]["link"]["seq"] == 2
    assert ledger.failures(at_head) == ledger.failures(below) == ledger.failures(late) == {}

    rng = random.Random(17)
    for name, tamper in TAMPERS.items():
        for _ in range(60 if name in ("statement", "token", "link header") else 12):
            changed = copy.deepcopy(below)
            tamper(changed["receipts"][0], rng)
            failed = ledger.failures(changed)
            assert set(failed) == {"receipt[0]:rfc3161", "anchor-policy"}, (name, failed)
            assert failed["receipt[0]:rfc3161"], name
