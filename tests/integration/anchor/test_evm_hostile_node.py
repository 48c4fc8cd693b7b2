"""A chain node outside our trust answering its worst over a real socket: the anchorer is never stopped.

Each answer is refused as the node being unavailable (the anchorer retries later and the other
kinds go on): an endless body past the cap, a body that stops in the middle, JSON nested past
the recursion limit (with eth-account loaded, as the evm kind runs), an empty body, a raw NUL, a
node that never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import provledger.anchor.evm.kind  # noqa: F401  (the evm kind's imports, eth-account among them)
from provledger.anchor.evm.rpc import MAX_ANSWER_BYTES, JsonRpc
from provledger.errors import ServiceUnavailable

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


async def _endless(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" * 65536
    for _ in range(MAX_ANSWER_BYTES // len(chunk) + 2):
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


def _fixed(body: bytes, length: int | None = None) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        announced = len(body) if length is None else length
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % announced
        )
        writer.write(body)
        await writer.drain()

    return answer


async def _silent(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


@pytest.fixture
async def node() -> AsyncIterator[Callable[[Answer], str]]:
    """A TCP server answering every request with the answer the test sets."""
    current: list[Answer] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            await current[-1](writer)
        except ConnectionError:
            pass  # the client stopped reading: what a capped reader does
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def answering(answer: Answer) -> str:
        current.append(answer)
        return f"http://127.0.0.1:{port}"

    try:
        yield answering
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (_endless, f"more than {MAX_ANSWER_BYTES} bytes"),
        (_fixed(b'{"jsonrpc": "2.0", "id": 1, "res', length=4096), "unreachable"),
        (_fixed(b"[" * 200_000 + b"]" * 200_000), "no JSON"),
        (_fixed(b""), "no JSON"),
        (_fixed(b'{"jsonrpc": "2.0", "id": 1, "result": "\x00"}'), "no JSON"),
        (_silent, "did not answer"),
    ],
    ids=["endless", "truncated", "nested", "empty", "nul", "silent"],
)
async def test_a_hostile_node_is_only_ever_unavailable(
    node: Callable[[Answer], str], answer: Answer, reason: str
) -> None:
    async with JsonRpc(node(answer), timeout_s=2.0) as rpc:
        with pytest.raises(ServiceUnavailable, match=reason):
            await rpc.call("eth_blockNumber")
