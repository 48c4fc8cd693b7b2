"""Headless Debian chromium driven by playwright, for the explorer page's tests and benchmarks.

Playwright's own browser download does not work here (and CI must not depend on it), so the
browser is the system's ``/usr/bin/chromium`` (``.ci/run`` installs it), launched with the flags
below. Tests that need it take the ``browser`` or ``page`` fixture; where chromium is absent they
skip, printing why and how to install it, never pass silently.

Pages must be loaded from ``http://127.0.0.1:<port>`` (a real server), not ``page.set_content``:
only a secure context gets WebCrypto's Ed25519 and SHA-256.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

#: Where Debian's chromium package puts the browser; PROVLEDGER_CHROMIUM overrides it.
CHROMIUM: Final = os.environ.get("PROVLEDGER_CHROMIUM", "/usr/bin/chromium")
#: No sandbox (tests run as root in containers), no GPU, and nothing that phones home mid-test.
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SKIP_REASON: Final = (
    f"no chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
    "or set PROVLEDGER_CHROMIUM to a Chromium binary; .ci/run installs it"
)


def chromium_available() -> bool:
    """Whether the browser binary exists and is executable."""
    return shutil.which(CHROMIUM) is not None


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Browser]:
    """A headless chromium, closed (with every page) however the block ends."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """The session's headless chromium; skips (saying why) where none is installed."""
    if not chromium_available():
        print(f"SKIP: {SKIP_REASON}")
        pytest.skip(SKIP_REASON)
    async with launched_chromium() as running:
        yield running


@pytest.fixture
async def browser_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh profile for one test (its own storage, cookies and downloads)."""
    context = await browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(browser_context: BrowserContext) -> Page:
    """A new tab in the test's own profile; browser errors fail the test through ``page_errors``."""
    return await browser_context.new_page()


#: Chromium's console line for any 4xx/5xx load; the response itself is recorded with its URL.
_FAILED_LOAD = "Failed to load resource"


def collect_page_errors(page: Page) -> list[str]:
    """Uncaught exceptions, console errors and 4xx/5xx answers of ``page`` from now on.

    Assert it empty at the end of a test: a page that works only by luck (a script error, a
    404 the user never sees) is a defect too.
    """
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith(_FAILED_LOAD)
            else None
        ),
    )
    page.on(
        "response",
        lambda answer: errors.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None,
    )
    return errors
