"""Slots for large ingest bodies: at most a few in memory at once, validated in worker threads.

Parsing, validating and canonicalising a maximal body takes CPU seconds and several times its
size in memory. On the event loop it would stall ``/healthz`` and every read for as long; in a
worker thread the loop gets the GIL back at every switch interval (5 ms), except while one call
into C holds it: parsing one JSON value, which :data:`provledger.api.body.MAX_JSON_NODES` bounds
(a batch is parsed per RunEvent).

A worker thread must also give the GIL back by itself: CPython's waiting thread asks the holder
to drop the GIL only after a whole switch interval without a switch, and every short release
by the worker (``hashlib`` drops the GIL for each digest of 2 KiB or more, once per RunEvent)
counts as one, so the loop's thread was measured starved for the whole second a maximal batch
took to validate (the convoy effect, bpo-7946). :func:`pause_for_loop`, called between events,
sleeps 0.1 ms once per switch interval, which hands the GIL over; ``/healthz`` then answered
within ~50 ms while a maximal batch was validated, for ~2 % more validation time.

A request takes a slot once its body passes :data:`provledger.api.body.SMALL_BODY_BYTES` and
holds it while the body is read, validated and published, so ``slots`` bounds the memory of
ingest, whatever the number of clients. A request that finds every slot taken waits up to
:data:`SLOT_WAIT_S` (a maximal body is done in about a second), then gets 503 with
``Retry-After`` (:class:`provledger.errors.Pushback`). A thread cannot be stopped, so a request
cancelled meanwhile (its time limit, a client gone) keeps its slot until its thread is done;
otherwise cancelled requests would multiply the memory the slots exist to bound.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from typing import Any, Final, TypeVar

from provledger.errors import Pushback

T = TypeVar("T")

#: How long a large body waits for a slot before the answer is 503.
SLOT_WAIT_S: Final = 1.0
#: How long a worker thread sleeps, once per switch interval, to hand the GIL to the loop's thread.
PAUSE_S: Final = 0.0001

_worker = threading.local()


def _start_worker() -> None:
    _worker.next_pause = 0.0


def pause_for_loop() -> None:
    """In a worker thread of a gate, hand the GIL over once per switch interval; elsewhere nothing."""
    next_pause: float | None = getattr(_worker, "next_pause", None)
    if next_pause is None:
        return
    if time.monotonic() >= next_pause:
        time.sleep(PAUSE_S)
        _worker.next_pause = time.monotonic() + sys.getswitchinterval()


class LargeBodies:
    """``slots`` large bodies at a time, each validated in one of as many worker threads."""

    def __init__(self, slots: int, wait_s: float = SLOT_WAIT_S) -> None:
        self.slots = slots
        self._free = asyncio.Semaphore(slots)
        self._wait_s = wait_s
        self._executor = ThreadPoolExecutor(
            max_workers=slots, thread_name_prefix="provledger-ingest", initializer=_start_worker
        )

    @asynccontextmanager
    async def admission(self) -> AsyncIterator[Admission]:
        """An admission for one request; its slot (if it took one) is given back on exit."""
        admission = Admission(self._free, self._executor, self._wait_s, self.slots)
        try:
            yield admission
        finally:
            admission.release()

    def close(self) -> None:
        """Stop the worker threads once their current work is done; queued work is dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class Admission:
    """One request's claim: inline work until :meth:`acquire`, then a slot and a worker thread."""

    def __init__(
        self, free: asyncio.Semaphore, executor: ThreadPoolExecutor, wait_s: float, slots: int
    ) -> None:
        self._free = free
        self._executor = executor
        self._wait_s = wait_s
        self._slots = slots
        self.held = False
        self._work: Future[Any] | None = None

    async def acquire(self) -> None:
        """Take a slot, waiting at most the gate's wait; :class:`Pushback` if none frees up."""
        try:
            async with asyncio.timeout(self._wait_s):
                await self._free.acquire()
        except TimeoutError:
            raise Pushback(
                f"{self._slots} large ingest bodies are being processed already "
                "(PROVLEDGER_LARGE_INGEST_SLOTS): retry shortly, or send smaller requests"
            ) from None
        self.held = True

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """``work(*args)``: in a worker thread if this request holds a slot, else right here."""
        if not self.held:
            return work(*args)
        self._work = future = self._executor.submit(work, *args)
        return await asyncio.wrap_future(future)

    def release(self) -> None:
        """Give the slot back now, or when the worker thread finishes if it still runs."""
        if not self.held:
            return
        self.held = False
        work, free = self._work, self._free
        if work is None or work.done():
            free.release()
            return
        loop = asyncio.get_running_loop()

        def release_later(_: object) -> None:
            with suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for the slot
                loop.call_soon_threadsafe(free.release)

        work.add_done_callback(release_later)
