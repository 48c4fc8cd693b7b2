"""The anchor endpoints through the real API: statements newest first, receipts, covering statements, keys.

Statements and receipts are made for real: blocks sealed as the sealer does
(``tests/helpers/sealed_ledger.py``), the anchorer's own ticks, and the local RFC 3161 TSA. What the
API answers is checked against independent oracles: the note opened under the anchorer's key, the
sealed blocks' own hashes and trees, and the TSA token checked against the TSA's roots.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.api_harness import api_settings, assert_problem, client_for, make_tokens
from tests.helpers.sealed_ledger import connected, register, seal_blocks

from provledger.anchor.kinds import AnchorKind
from provledger.anchor.metrics import AnchorerMetrics
from provledger.anchor.rfc3161 import Rfc3161ReceiptVerifier, make_kind
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.anchor.topic import CheckpointTopic
from provledger.api.pagination import encode_cursor
from provledger.config import KafkaSettings
from provledger.events.rows import SealedBlock
from provledger.ledger.checkpoint import open_checkpoint, shard_heads
from provledger.ledger.evidence import Receipt
from provledger.ledger.keys import SigningKey
from provledger.local.tsa import LocalTsa
from provledger.store.anchors import register_anchorer_key
from provledger.store.db import create_pool
from provledger.store.keys import register_key

SEALER = SigningKey.generate("anchors-api.test/sealer")
ANCHORER = SigningKey.generate("anchors-api.test/anchorer")
ORIGIN = "anchors-api.test/ledger"


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


@asynccontextmanager
async def api(database_url: str, kafka: KafkaSettings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    tokens = make_tokens(tmp_path / "tokens")
    async with client_for(api_settings(database_url, kafka, tmp_path / "tokens"), tokens.read) as client:
        yield client


async def anchor_rounds(
    database_url: str, kafka: KafkaSettings, kinds: Sequence[AnchorKind], rounds: int
) -> list[SealedBlock]:
    """``rounds`` times: seal one block on partition 0, then let the active anchorer tick once."""
    pool = await create_pool(database_url)
    topic = CheckpointTopic(kafka.require_kafka_bootstrap(), kafka.topic_checkpoints, "anchors-api-test")
    options = AnchorerOptions(ORIGIN, interval_s=0.05, heartbeat_s=3600.0)
    sealed: list[SealedBlock] = []
    try:
        replica = Anchorer(
            pool, ANCHORER, kinds, topic, options, AnchorerMetrics(tuple(k.name for k in kinds))
        )
        await replica.take_over()
        for _ in range(rounds):
            async with connected(database_url) as conn:
                sealed += await seal_blocks(conn, 0, [3], SEALER)
            await replica.tick()
    finally:
        await topic.stop()
        await pool.close()
    return sealed


async def _pages(client: httpx.AsyncClient, path: str, limit: int) -> list[list[dict[str, Any]]]:
    """Every page of ``path`` at ``limit`` items, following next_cursor to the end."""
    pages, params = [], {"limit": limit}
    while True:
        body = (await client.get(path, params=params)).json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": body["next_cursor"]}


async def test_statements_newest_first_with_receipts_and_the_statement_covering_each_block(
    database_url: str, kafka_settings: KafkaSettings, local_tsa_server: LocalTsa, tmp_path: Path
) -> None:
    tsa = make_kind(tsa_urls=local_tsa_server.url, tsa_roots_file=local_tsa_server.roots_file)
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        other = await seal_blocks(conn, 1, [2], SEALER)
    # Statements 1-4 timestamped by the TSA; 5 by an anchorer with no kinds (no receipt); block 5 unanchored.
    sealed = await anchor_rounds(database_url, kafka_settings, [tsa], 4)
    sealed += await anchor_rounds(database_url, kafka_settings, [], 1)
    async with connected(database_url) as conn:
        sealed += await seal_blocks(conn, 0, [1], SEALER)
    blocks = {(b.shard, b.header.height): b for b in [*sealed, *other]}
    moving, still = sealed[0].shard, other[0].shard

    async with api(database_url, kafka_settings, tmp_path) as client:
        pages = await _pages(client, "/v1/anchors", 2)
        assert [[s["seq"] for s in page] for page in pages] == [[5, 4], [3, 2], [1]]
        statements = [s for page in pages for s in page]
        assert (await client.get("/v1/anchors")).json() == {"items": statements, "next_cursor": None}
        # A last page exactly full still hands out a cursor; the page after it is empty.
        full = (await client.get("/v1/anchors", params={"limit": 5})).json()
        after = (await client.get("/v1/anchors", params={"cursor": full["next_cursor"]})).json()
        assert (after["items"], after["next_cursor"]) == ([], None)

        for item in statements:
            opened = open_checkpoint(item["note"], [ANCHORER.verifier])
            assert (item["origin"], item["shard_count"], _b64(item["root"])) == (
                ORIGIN,
                opened.size,
                opened.root,
            )
            named = [(h.shard, h.height, h.block_hash) for h in shard_heads(opened)]
            assert [(h["shard"], h["height"], _b64(h["block_hash"])) for h in item["heads"]] == named
            for head in item["heads"]:
                header = blocks[head["shard"], head["height"]].header
                assert (head["tree_size"], _b64(head["log_root"])) == (header.tree_size, header.log_root)
            assert item["receipt_kinds"] == ([] if item["seq"] == 5 else ["rfc3161"])
        heights = [{h["shard"]: h["height"] for h in s["heads"]} for s in reversed(statements)]
        assert heights == [{moving: height, still: 0} for height in range(5)]

        detail = (await client.get("/v1/anchors/3")).json()
        assert {k: v for k, v in detail.items() if k != "receipts"} == statements[2]
        [receipt] = detail["receipts"]
        assert receipt["type"] == "rfc3161"
        assert receipt["statement"] == detail["note"]
        verifier = Rfc3161ReceiptVerifier.from_roots_file(local_tsa_server.roots_file)
        assert verifier.check(Receipt.from_json(receipt)).startswith(
            "timestamped by CN=provledger test TSA at "
        )
        assert (await client.get("/v1/anchors/5")).json()["receipts"] == []

        covering = {}
        for shard, height in blocks:
            block = (await client.get(f"/v1/shards/{shard}/blocks/{height}")).json()
            covering[shard, height] = block["anchored_by"]
            if block["anchored_by"] is None:
                assert block["anchor"] is None
                continue
            statement = (await client.get(block["anchor"])).json()
            assert statement["seq"] == block["anchored_by"]
            assert any(h["shard"] == shard and h["height"] >= height for h in statement["heads"])
        # The earliest statement whose head for the shard reached the block, not a later one.
        assert covering == {(moving, h): seq for h, seq in enumerate([1, 2, 3, 4, 5, None])} | {(still, 0): 1}

        body = assert_problem(await client.get("/v1/anchors/6"), 404, "anchor-not-found")
        assert "the newest is 5" in body["detail"]


async def test_an_empty_ledger_has_no_statements(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    async with api(database_url, kafka_settings, tmp_path) as client:
        assert (await client.get("/v1/anchors")).json() == {"items": [], "next_cursor": None}
        body = assert_problem(await client.get("/v1/anchors/1"), 404, "anchor-not-found")
        assert "none is stored yet" in body["detail"]


BIG = 2**63
#: Keys of cursors /v1/anchors never made: out of the bigint range, a string, two keys, none.
FORGED_KEYS: list[list[str | int]] = [[-1], [BIG], ["5"], [1, 2], []]
HOSTILE = [
    # Path values a statement number cannot be: 422, never a 500 from Postgres or int overflow.
    *[
        (f"/v1/anchors/{seq}", 422, "invalid-parameters")
        for seq in ("0", "-1", "abc", "1.5", "1e3", str(BIG), "9" * 400, "0x10", "%00", "true")
    ],
    (f"/v1/anchors/{BIG - 1}", 404, "anchor-not-found"),
    *[
        ("/v1/anchors?limit=" + limit, 422, "invalid-parameters")
        for limit in ("0", "-1", "101", "x", "9" * 40)
    ],
    ("/v1/anchors?cursor=" + "A" * 513, 422, "invalid-parameters"),
    # Cursors this API never made: the wrong shape, out of the column's range, not JSON at all.
    *[(f"/v1/anchors?cursor={encode_cursor(key)}", 400, "invalid-cursor") for key in FORGED_KEYS],
    *[
        (f"/v1/anchors?cursor={cursor}", 400, "invalid-cursor")
        for cursor in ("WzEuNV0", "bm90IGpzb24", "%25%25", "WyJ4Il0")
    ],
]


@pytest.mark.parametrize(("path", "status", "slug"), HOSTILE)
async def test_hostile_anchor_requests_are_4xx_problems(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path, path: str, status: int, slug: str
) -> None:
    async with api(database_url, kafka_settings, tmp_path) as client:
        assert_problem(await client.get(path), status, slug)


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


async def test_keys_name_their_role_and_page_across_both_signers(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    successor = SigningKey.generate("anchors-api.test/sealer-2")
    twins = sorted((SigningKey.generate(f"anchors-api.test/anchorer-{n}") for n in (1, 2)),
                   key=lambda k: k.verifier.public_key)  # fmt: skip
    handover = datetime(2024, 3, 1, tzinfo=UTC)
    async with connected(database_url) as conn:
        await register(conn, SEALER)
        await register_key(conn, successor.verifier, _micros(handover))
        await register_anchorer_key(conn, ANCHORER.verifier)  # first used now, after the handover
        for twin in twins:  # two anchorer keys first used at the very moment the sealer's key changed
            await conn.execute(
                "INSERT INTO anchorer_keys (key_id, name, public_key, verifier_key, first_used) "
                "VALUES ($1, $2, $3, $4, $5)",
                twin.verifier.key_id, twin.verifier.name, twin.verifier.public_key,
                twin.verifier.verifier_key_string(), handover,
            )  # fmt: skip
    async with api(database_url, kafka_settings, tmp_path) as client:
        keys = (await client.get("/v1/keys")).json()["items"]
        # Ordered by when each took over; at a tie, anchorer before sealer, then by public key.
        expected = [("sealer", SEALER), ("anchorer", twins[0]), ("anchorer", twins[1]), ("sealer", successor),
                    ("anchorer", ANCHORER)]  # fmt: skip
        assert [(k["role"], k["verifier_key"]) for k in keys] == [
            (role, key.verifier.verifier_key_string()) for role, key in expected
        ]
        assert [_b64(k["public_key"]) for k in keys] == [key.verifier.public_key for _, key in expected]
        assert [k["valid_until"] for k in keys] == [keys[3]["valid_from"], keys[2]["valid_from"],
                                                    keys[4]["valid_from"], None, None]  # fmt: skip
        # Pages of one or two keys give the same list, each key once, even across the tie.
        for limit in (1, 2):
            assert [k for page in await _pages(client, "/v1/keys", limit) for k in page] == keys

        known = base64.b64encode(twins[0].verifier.public_key).decode()
        forged: list[list[str | int]] = [
            [handover.isoformat(), "witness", known],
            [handover.isoformat(), "anchorer", "not base64!"],
            [handover.isoformat(), "anchorer", base64.b64encode(b"k" * 31).decode()],
            [handover.isoformat(), "anchorer", 7],
            [handover.isoformat()],
        ]
        for key in forged:
            assert_problem(
                await client.get("/v1/keys", params={"cursor": encode_cursor(key)}), 400, "invalid-cursor"
            )
