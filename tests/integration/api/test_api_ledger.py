"""Shards, blocks, consistency proofs and keys through the real API."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import asyncpg
from tests.helpers.api_harness import KEY, api_settings, assert_problem, client_for, events, make_tokens, seal

from provledger.config import KafkaSettings
from provledger.ledger.block import block_hash
from provledger.ledger.checkpoint import Checkpoint, open_checkpoint
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import verify_consistency
from provledger.store.keys import register_key


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


async def test_shards_blocks_consistency_and_keys(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(database_url)
    successor = SigningKey.generate("api.test/next")
    try:
        headers = await seal(conn, events(300), block_size=70)
        await seal(conn, events(5), block_size=5, partition=1)
        await conn.execute("INSERT INTO shards (topic, partition) VALUES ('provledger.openlineage', 0)")
        await register_key(conn, successor.verifier, 2_000_000_000_000_000)  # takes over in 2033
    finally:
        await conn.close()
    tokens = make_tokens(tmp_path / "tokens")
    async with client_for(
        api_settings(database_url, kafka_settings, tmp_path / "tokens"), tokens.read
    ) as client:
        first = (await client.get("/v1/shards", params={"limit": 2})).json()
        rest = (await client.get("/v1/shards", params={"cursor": first["next_cursor"]})).json()
        shards = first["items"] + rest["items"]
        assert [s["shard"] for s in shards] == [0, 1, 2]
        assert rest["next_cursor"] is None
        assert shards[0]["head"]["height"] == headers[-1].height
        assert _b64(shards[0]["head"]["log_root"]) == headers[-1].log_root
        assert shards[2]["head"] is None
        assert (await client.get("/v1/shards/1")).json()["head"]["tree_size"] == 5

        page = (await client.get("/v1/shards/0/blocks", params={"limit": 3})).json()
        assert [b["height"] for b in page["items"]] == [0, 1, 2]
        following = (await client.get("/v1/shards/0/blocks", params={"cursor": page["next_cursor"]})).json()
        assert [b["height"] for b in following["items"]] == [3, 4]
        block = (await client.get("/v1/shards/0/blocks/2")).json()
        assert _b64(block["header"]) == headers[2].to_bytes()
        assert _b64(block["block_hash"]) == block_hash(headers[2])
        assert block["tree_size"] == 210
        # C2SP tlog-checkpoint of shard 0's log at block 2: origin, size and root written out.
        assert open_checkpoint(block["checkpoint"], [KEY.verifier]) == Checkpoint(
            "api.test/ledger/shard/0", 210, headers[2].log_root
        )

        sizes = [h.tree_size for h in headers]
        for old, new in [*itertools.pairwise(sizes), (1, 300), (7, 133), (300, 300)]:
            body = (await client.get("/v1/shards/0/consistency", params={"from": old, "to": new})).json()
            proof = [_b64(h) for h in body["proof"]]
            verify_consistency(old, new, _b64(body["from_root"]), _b64(body["to_root"]), proof)
            if new in sizes:
                assert _b64(body["to_root"]) == headers[sizes.index(new)].log_root

        keys = (await client.get("/v1/keys")).json()["items"]
        assert [k["verifier_key"] for k in keys] == [KEY.verifier.verifier_key_string(),
                                                     successor.verifier.verifier_key_string()]  # fmt: skip
        assert keys[0]["valid_until"] == keys[1]["valid_from"]
        assert keys[1]["valid_until"] is None
        assert keys[0]["key_id"] == KEY.key_id.hex()
        one = (await client.get("/v1/keys", params={"limit": 1})).json()
        assert (await client.get("/v1/keys", params={"cursor": one["next_cursor"]})).json()["items"] == keys[
            1:
        ]

        assert_problem(await client.get("/v1/shards/9"), 404, "shard-not-found")
        assert_problem(await client.get("/v1/shards/9/blocks"), 404, "shard-not-found")
        assert_problem(await client.get("/v1/shards/0/blocks/99"), 404, "block-not-found")
        assert_problem(await client.get("/v1/shards/99999999999"), 422, "invalid-parameters")
        for bad in ({"from": 5, "to": 4}, {"from": 1, "to": 301}):
            assert_problem(await client.get("/v1/shards/0/consistency", params=bad), 400, "bad-tree-sizes")
        assert_problem(await client.get("/v1/shards/0/consistency", params={"from": 0, "to": 4}), 422,
                       "invalid-parameters")  # fmt: skip
        assert_problem(await client.get("/v1/shards/9/consistency", params={"from": 1, "to": 1}), 404,
                       "shard-not-found")  # fmt: skip
        assert_problem(await client.get("/v1/shards", params={"cursor": "WyJ4Il0"}), 400, "invalid-cursor")
        assert_problem(await client.get("/v1/keys", params={"cursor": "WzFd"}), 400, "invalid-cursor")
