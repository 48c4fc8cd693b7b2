"""Slots for large bodies: work moves to a worker thread, the slot outlives a cancelled request's thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest

from provledger.api.gate import LargeBodies, pause_for_loop
from provledger.errors import Pushback


@pytest.fixture
async def gate() -> AsyncIterator[LargeBodies]:
    bodies = LargeBodies(1, wait_s=0.05)
    yield bodies
    bodies.close()


async def test_small_work_runs_inline_and_large_work_in_a_worker_thread(gate: LargeBodies) -> None:
    async with gate.admission() as admission:
        assert await admission.run(lambda: threading.current_thread().name) == threading.current_thread().name
        await admission.acquire()
        worker = await admission.run(lambda: threading.current_thread().name)
    assert worker.startswith("provledger-ingest")


async def test_a_request_finding_every_slot_taken_gets_pushback_after_the_wait(gate: LargeBodies) -> None:
    async with gate.admission() as holder:
        await holder.acquire()
        async with gate.admission() as late:
            started = time.monotonic()
            with pytest.raises(Pushback, match="retry shortly"):
                await late.acquire()
            assert 0.04 < time.monotonic() - started < 1.0
    async with gate.admission() as next_one:
        await next_one.acquire()  # the holder gave its slot back


async def test_a_cancelled_request_keeps_its_slot_until_its_thread_is_done(gate: LargeBodies) -> None:
    release = threading.Event()

    async def request() -> None:
        async with gate.admission() as admission:
            await admission.acquire()
            await admission.run(release.wait, 5.0)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with gate.admission() as waiting:
        with pytest.raises(Pushback):
            await waiting.acquire()  # the cancelled request's thread still holds its memory
    release.set()
    async with gate.admission() as after:
        await asyncio.wait_for(after.acquire(), 1.0)


async def test_pause_for_loop_sleeps_only_in_worker_threads(
    gate: LargeBodies, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[str] = []
    real_sleep = time.sleep

    def recorded(seconds: float) -> None:
        sleeps.append(threading.current_thread().name)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", recorded)

    def spin() -> None:
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            pause_for_loop()

    spin()
    assert sleeps == []  # the event loop's thread never sleeps
    async with gate.admission() as admission:
        await admission.acquire()
        await admission.run(spin)
    assert len(sleeps) >= 3  # about once per 5 ms switch interval, over 50 ms
    assert all(name.startswith("provledger-ingest") for name in sleeps)
