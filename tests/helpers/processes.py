"""Waiting for a service the tests started in a process of its own."""

from __future__ import annotations

import asyncio
import time

import httpx

from provledger.local.process import ManagedProcess


async def wait_until_ok(process: ManagedProcess, url: str, *, timeout_s: float, poll_s: float) -> None:
    """Poll ``url`` until it answers 200; fail with the process's log if it exits first or never does."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.exit_code() is not None:
                raise AssertionError(f"{process.name} exited early:\n{process.log_tail()}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(poll_s)
    raise AssertionError(f"{process.name} did not answer {url} in {timeout_s} s:\n{process.log_tail()}")
