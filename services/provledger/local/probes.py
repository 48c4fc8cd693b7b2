"""Readiness probes that speak each server's own protocol, callable from sync or async code."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaClient

from provledger.store.db import ping

T = TypeVar("T")
PROBE_TIMEOUT_S = 3.0


def run_blocking(make_coro: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private event loop in a worker thread.

    Server start-up is synchronous (CLI, pytest session fixtures) yet may be called while an
    event loop runs in this thread, where ``asyncio.run`` is not allowed.
    """

    async def main() -> T:
        return await make_coro()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def postgres_answers(dsn: str) -> None:
    """Raise unless Postgres at ``dsn`` accepts a connection and answers a query."""

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT_S)
        try:
            await ping(conn, PROBE_TIMEOUT_S)
        finally:
            await conn.close()

    run_blocking(probe)


def kafka_answers(bootstrap: str, security: Mapping[str, Any] | None = None) -> None:
    """Raise unless the brokers answer a metadata request (with ``security``'s TLS and SASL options)."""

    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    # A plain connect first: while the broker is still binding, aiokafka would log every refusal.
    socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()

    async def probe() -> None:
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000), **(security or {})
        )
        try:
            await asyncio.wait_for(client.bootstrap(), PROBE_TIMEOUT_S)
            await asyncio.wait_for(client.fetch_all_metadata(), PROBE_TIMEOUT_S)
        finally:
            await client.close()

    run_blocking(probe)
