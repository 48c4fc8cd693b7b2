"""Hostile read requests: every malformed or out-of-range cursor, query value or path is a 4xx with a reason.

Issue 15 item 6. Each request below reached Postgres or datetime arithmetic out of range before
(a 500, or a 503 blaming the database); each must now be refused at the edge, naming the value.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import uuid
from pathlib import Path

import asyncpg
from tests.helpers.api_harness import api_settings, assert_problem, client_for, events, make_tokens, seal

from provledger.api.pagination import encode_cursor
from provledger.api.server import BackgroundApi
from provledger.config import KafkaSettings

RUN = str(uuid.uuid4())
FAR = "9999-12-31T23:59:59-23:59"  # year 10000 once in UTC


def _forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


NUL_TEXT = _forged(json.dumps([0, "\x00"]))
LONE_SURROGATE = _forged('[0, "\\ud800"]')

# (path and query, status, problem type)
HOSTILE: list[tuple[str, int, str]] = [
    ("/v1/runs?cursor=WzkwMDAwMDAwMDAwMDAwMDAwMDAsImEiXQ", 400, "invalid-cursor"),
    (f"/v1/runs?cursor={encode_cursor([0, 'a' * 300])}", 400, "invalid-cursor"),
    (f"/v1/runs?cursor={NUL_TEXT}", 400, "invalid-cursor"),
    (f"/v1/runs?cursor={LONE_SURROGATE}", 400, "invalid-cursor"),
    (f"/v1/shards?cursor={encode_cursor([2**31])}", 400, "invalid-cursor"),
    (f"/v1/shards/0/blocks?cursor={encode_cursor([2**63])}", 400, "invalid-cursor"),
    (f"/v1/keys?cursor={encode_cursor([FAR])}", 400, "invalid-cursor"),
    (f"/v1/keys?cursor={encode_cursor(['2026-11-24T10:00:00'])}", 400, "invalid-cursor"),
    (f"/v1/runs/{RUN}?cursor={encode_cursor([FAR, str(uuid.uuid4())])}", 400, "invalid-cursor"),
    (f"/v1/artifacts?cursor={encode_cursor([2**64])}", 400, "invalid-cursor"),
    (f"/v1/artifacts?cursor={_forged('[1e308]')}", 400, "invalid-cursor"),
    (f"/v1/runs/{RUN}/lineage?cursor={encode_cursor([2, 1])}", 400, "invalid-cursor"),
    (f"/v1/artifacts?as_of={FAR}", 422, "invalid-parameters"),
    (f"/v1/lineage?node=artifact:1&as_of={FAR}", 422, "invalid-parameters"),
    ("/v1/artifacts?as_of=0001-01-01T00:00:00%2B00:01", 422, "invalid-parameters"),
    ("/v1/artifacts?namespace=a%00b", 422, "invalid-parameters"),
    ("/v1/runs?job_name=%00", 422, "invalid-parameters"),
    ("/v1/lineage?node=artifact:99999999999999999999", 400, "invalid-node"),
    ("/v1/lineage?node=artifact:1&depth=99999999999999999999", 422, "invalid-parameters"),
    ("/v1/shards/99999999999", 422, "invalid-parameters"),
    ("/v1/shards/0/blocks/9223372036854775808", 422, "invalid-parameters"),
    ("/v1/shards/0/consistency?from=1&to=9223372036854775808", 422, "invalid-parameters"),
    ("/v1/artifacts/9223372036854775808", 422, "invalid-parameters"),
    ("/tlog/0/tile/0/" + "x999/" * 400 + "999", 404, "tile-not-found"),
    ("/tlog/0/tile/0/" + "x999/" * 1500 + "999", 404, "not-a-tile-path"),  # past int()'s 4300 digits
    ("/tlog/0/tile/entries/" + "x999/" * 10 + "999.p/1", 404, "tile-not-found"),
    ("/v1/runs/%ff%fe", 404, "run-not-found"),
]


async def test_hostile_read_values_are_refused_with_their_reason(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(12), block_size=4)
    finally:
        await conn.close()
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    answers = []
    async with client_for(settings, tokens.read) as api:
        for target, _, _ in HOSTILE:
            answers.append(await api.get(target))
    got = [
        (target, answer.status_code, answer.json().get("type"))
        for (target, _, _), answer in zip(HOSTILE, answers, strict=True)
    ]
    assert got == [(target, status, f"/problems/{slug}") for target, status, slug in HOSTILE]
    for answer, (_, status, slug) in zip(answers, HOSTILE, strict=True):
        assert_problem(answer, status, slug)


def _raw_get(port: int, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


async def test_bytes_that_are_not_utf8_in_the_request_target_are_4xx(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens", api_port=0, public_reads=True)
    server = await asyncio.to_thread(BackgroundApi, settings)
    try:
        port = int(server.url.rsplit(":", 1)[1])
        for target in (b"/v1/runs/\xff\xfe", b"/v1/artifacts?namespace=\xff", b"/v1/runs?cursor=%ff"):
            status = int((await asyncio.to_thread(_raw_get, port, target)).split(b" ", 2)[1])
            assert 400 <= status < 500, (target, status)
    finally:
        await asyncio.to_thread(server.stop)
