"""The C2SP tlog-tiles endpoints: a tile-based client rebuilds and verifies proofs from them alone."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from tests.helpers.api_harness import KEY, api_settings, assert_problem, client_for, events, make_tokens, seal

from provledger.config import KafkaSettings
from provledger.ledger.checkpoint import Checkpoint, open_checkpoint
from provledger.ledger.merkle import leaf_hash, verify_inclusion
from provledger.ledger.proofs import inclusion_nodes
from provledger.ledger.tiles import (
    TILE_WIDTH,
    entry_bundle_path,
    node_from_tile,
    node_tile,
    tile_path,
    tile_width,
)

LEAVES = 600  # two full level-0 tiles and a partial one of 88; level 1 has one partial tile of 2


@pytest.fixture
async def client(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(LEAVES), block_size=150)
    finally:
        await conn.close()
    tokens = make_tokens(tmp_path / "tokens")
    async with client_for(
        api_settings(database_url, kafka_settings, tmp_path / "tokens"), tokens.read
    ) as api:
        yield api


async def _checkpoint(client: httpx.AsyncClient) -> Checkpoint:
    response = await client.get("/tlog/0/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-cache"
    checkpoint = open_checkpoint(response.text, [KEY.verifier])
    assert checkpoint.origin == "api.test/ledger/shard/0"  # the harness log origin, then /shard/<n>
    return checkpoint


async def test_a_tile_client_rebuilds_inclusion_proofs(client: httpx.AsyncClient) -> None:
    checkpoint = await _checkpoint(client)
    size = checkpoint.size
    assert size == LEAVES
    tiles: dict[tuple[int, int], bytes] = {}

    async def fetch(level: int, index: int) -> bytes:
        if (level, index) not in tiles:
            response = await client.get(f"/tlog/0/{tile_path(level, index, tile_width(level, index, size))}")
            assert response.status_code == 200, response.text
            tiles[(level, index)] = response.content
        return tiles[(level, index)]

    bundles = [await client.get(f"/tlog/0/{entry_bundle_path(n, tile_width(0, n, size))}") for n in range(3)]
    entries: list[bytes] = []
    for bundle in bundles:
        data, offset = bundle.content, 0
        while offset < len(data):
            (length,) = struct.unpack_from(">H", data, offset)
            entries.append(data[offset + 2 : offset + 2 + length])
            offset += 2 + length
    assert len(entries) == size
    for index in (0, 1, 255, 256, 511, 512, 599):
        plan = inclusion_nodes(index, size)
        hashes = []
        for level, node in plan.ids:
            span = node_tile(level, node)
            hashes.append(node_from_tile(await fetch(span.tile_level, span.tile_index), span))
        verify_inclusion(leaf_hash(entries[index]), index, size, plan.rehash(hashes), checkpoint.root)
    level0 = await fetch(0, 1)
    assert [level0[i * 32 : i * 32 + 32] for i in range(TILE_WIDTH)] == [
        leaf_hash(e) for e in entries[256:512]
    ]


async def test_caching_and_what_is_beyond_the_tree(client: httpx.AsyncClient) -> None:
    # Behind a token: only the reader's own cache may keep a tile (never a shared one), and the
    # security headers' no-store for authenticated answers does not override the route's choice.
    full = await client.get("/tlog/0/tile/0/001")
    assert full.status_code == 200
    assert len(full.content) == 32 * TILE_WIDTH
    assert full.headers["cache-control"] == "private, max-age=31536000, immutable"
    partial = await client.get("/tlog/0/tile/0/002.p/88")
    assert partial.status_code == 200
    assert len(partial.content) == 32 * 88
    assert partial.headers["cache-control"] == "private, max-age=3600"
    narrower = await client.get("/tlog/0/tile/0/002.p/10")
    assert narrower.content == partial.content[: 32 * 10]
    entries = await client.get("/tlog/0/tile/entries/000")
    assert entries.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert entries.status_code == 200
    for path in (
        "tile/0/002",
        "tile/0/002.p/89",
        "tile/0/003.p/1",
        "tile/1/000",
        "tile/entries/002",
        "tile/2/000.p/1",
    ):
        assert_problem(await client.get(f"/tlog/0/{path}"), 404, "tile-not-found")
    for path in ("tile/0/2", "tile/0/001.p/256", "tile/x/000"):
        assert_problem(await client.get(f"/tlog/0/{path}"), 404, "not-a-tile-path")
    assert_problem(await client.get("/tlog/0/nothing"), 404, "not-found")
    assert_problem(await client.get("/tlog/7/checkpoint"), 404, "shard-not-found")
    assert_problem(await client.get("/tlog/7/tile/0/000"), 404, "shard-not-found")
    assert_problem(await client.get("/tlog/-1/checkpoint"), 422, "invalid-parameters")


async def test_public_reads_let_shared_caches_keep_tiles(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(TILE_WIDTH + 1), block_size=TILE_WIDTH + 1)
    finally:
        await conn.close()
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", public_reads=True)
    async with client_for(settings) as api:
        for path, cache in (
            ("tile/0/000", "public, max-age=31536000, immutable"),
            ("tile/entries/000", "public, max-age=31536000, immutable"),
            ("tile/0/001.p/1", "public, max-age=3600"),
        ):
            response = await api.get(f"/tlog/0/{path}")
            assert response.status_code == 200, response.text
            assert response.headers["cache-control"] == cache
