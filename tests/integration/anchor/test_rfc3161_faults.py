"""A TSA that lies, fails, floods or stalls: ServiceUnavailable or VerificationError, never a receipt."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from provledger.anchor.rfc3161 import Rfc3161Kind, make_kind
from provledger.anchor.rfc3161.client import QUERY_TYPE, REPLY_TYPE
from provledger.anchor.rfc3161.verify import MAX_RESPONSE_BYTES, load_roots
from provledger.errors import ServiceUnavailable, VerificationError
from provledger.local.process import free_port
from provledger.local.tsa import MAX_QUERY_BYTES, LocalTsa

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StartHostile = Callable[[Handler], Awaitable[str]]
STATEMENT = (
    "provledger.local/ledger/anchors\n9\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— anchorer q1w2\n"
)
TIMEOUT_S = 0.5


def _kind(tsa: LocalTsa, *urls: str) -> Rfc3161Kind:
    return Rfc3161Kind(urls, load_roots(tsa.roots_file), TIMEOUT_S)


def _reply(body: bytes, status: int = 200, content_type: str = REPLY_TYPE) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type=content_type)

    return handler


async def _streamed(request: web.Request) -> web.StreamResponse:
    """An endless chunked answer with no Content-Length."""
    answer = web.StreamResponse(headers={"Content-Type": REPLY_TYPE})
    await answer.prepare(request)
    for _ in range(MAX_RESPONSE_BYTES // 1024 + 8):
        await answer.write(b"\x30" * 1024)
    return answer


async def _slow(_: web.Request) -> web.Response:
    await asyncio.sleep(TIMEOUT_S * 10)
    return web.Response(body=b"", content_type=REPLY_TYPE)


@pytest.mark.parametrize(
    ("handler", "error", "reason"),
    [
        (_reply(b"\x30\x03\x02\x01"), VerificationError, "does not verify"),
        (_reply(b"<html>welcome</html>", content_type="text/html"), VerificationError, "text/html"),
        (_reply(b"oops", status=500, content_type="text/plain"), ServiceUnavailable, "HTTP 500"),
        (_reply(b"busy", status=503, content_type="text/plain"), ServiceUnavailable, "HTTP 503"),
        (_reply(b"slow down", status=429, content_type="text/plain"), ServiceUnavailable, "HTTP 429"),
        (_reply(bytes(MAX_RESPONSE_BYTES + 1)), VerificationError, "announced"),
        (_streamed, VerificationError, f"more than {MAX_RESPONSE_BYTES} bytes"),
        (_slow, ServiceUnavailable, f"did not answer within {TIMEOUT_S}"),
    ],
    ids=["garbage", "html", "500", "503", "429", "oversized", "oversized-chunked", "timeout"],
)
async def test_a_hostile_tsa_yields_an_error_and_no_receipt(
    handler: Handler,
    error: type[Exception],
    reason: str,
    hostile_tsa: StartHostile,
    local_tsa_server: LocalTsa,
) -> None:
    url = await hostile_tsa(handler)
    # The honest TSA beside it answers, but the receipt needs a token from each.
    with pytest.raises(error, match=f"TSA {url}.*{reason}"):
        await _kind(local_tsa_server, local_tsa_server.url, url).publish(STATEMENT)


async def test_an_answer_for_another_nonce_is_refused(
    hostile_tsa: StartHostile, local_tsa_server: LocalTsa
) -> None:
    """A replaying TSA: it answers with a genuine token over the same statement, for another query."""

    async def replay(_: web.Request) -> web.Response:
        query = (
            TimestampRequestBuilder().data(STATEMENT.encode()).hash_algorithm(HashAlgorithm.SHA256).build()
        )
        async with httpx.AsyncClient() as http:
            token = await http.post(
                local_tsa_server.url, content=query.as_bytes(), headers={"Content-Type": QUERY_TYPE}
            )
        return web.Response(body=token.content, content_type=REPLY_TYPE)

    url = await hostile_tsa(replay)
    with pytest.raises(VerificationError, match=r"nonce \d+ is not the request's"):
        await _kind(local_tsa_server, url).publish(STATEMENT)


async def test_nothing_listening_is_unavailable(local_tsa_server: LocalTsa) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(ServiceUnavailable, match=f"TSA {url} is unreachable"):
        await _kind(local_tsa_server, url).publish(STATEMENT)


async def test_a_paused_tsa_times_out_and_answers_again_when_resumed(local_tsa_server: LocalTsa) -> None:
    process = local_tsa_server.process
    assert process is not None
    kind = _kind(local_tsa_server, local_tsa_server.url)
    process.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(ServiceUnavailable, match="did not answer within"):
            await kind.publish(STATEMENT)
    finally:
        process.send_signal(signal.SIGCONT)
    assert len((await kind.publish(STATEMENT))["responses"]) == 1


async def test_the_local_tsa_refuses_oversized_and_mistyped_queries(local_tsa_server: LocalTsa) -> None:
    async with httpx.AsyncClient() as http:
        big = await http.post(
            local_tsa_server.url, content=bytes(MAX_QUERY_BYTES + 1), headers={"Content-Type": QUERY_TYPE}
        )
        chunked = await http.post(
            local_tsa_server.url,
            content=_chunks(bytes(MAX_QUERY_BYTES + 1)),
            headers={"Content-Type": QUERY_TYPE},
        )
        mistyped = await http.post(local_tsa_server.url, content=b"x", headers={"Content-Type": "text/plain"})
    assert (big.status_code, chunked.status_code, mistyped.status_code) == (413, 413, 415)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 512):
        yield data[start : start + 512]


def test_make_kind_takes_the_timeout_from_settings(local_tsa_server: LocalTsa) -> None:
    kind = make_kind(
        tsa_urls=local_tsa_server.url, tsa_roots_file=local_tsa_server.roots_file, tsa_timeout_s=3
    )
    assert [client.timeout_s for client in kind.clients] == [3]
