"""The explorer page's ledger view in headless Chromium against the demo stack: it shows the
demo ledger's shards, keys, witnesses and anchors; it remembers each shard's checkpoint, says
"consistent since your last visit" once more blocks are sealed, and shows a loud failure when the
consistency proof is changed in flight, without forgetting the checkpoint it had remembered.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import FilePayload, Page, Route
from tests.helpers.browser import collect_page_errors
from tests.helpers.browser_ledger import DemoStack, demo_stack  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

#: Every shard's consistency check in the page's ledger view is done (none says "checking").
CHECKED = """() => {
  const cells = [...document.querySelectorAll("#ledger .ledger-consistency")];
  return cells.length > 0 && cells.every((cell) => cell.dataset.consistency !== "checking");
}"""
#: Each sealed shard's check as the view shows it: {shard: {state, message}}.
CHECKS = """() => Object.fromEntries([...document.querySelectorAll("#ledger .ledger-consistency")]
  .filter((cell) => cell.dataset.consistency !== "empty")
  .map((cell) => [cell.dataset.shard, { state: cell.dataset.consistency, message: cell.textContent }]))"""
CONSISTENCY = "**/v1/shards/*/consistency?*"


async def visit(page: Page, stack: DemoStack) -> dict[int, dict[str, str]]:
    """Open the page (which mounts the ledger view) and return each shard's consistency check."""
    await page.goto(stack.api_url + "/")
    await page.wait_for_function(CHECKED)
    checks: dict[str, dict[str, str]] = await page.evaluate(CHECKS)
    return {int(shard): check for shard, check in checks.items()}


async def sealed_shards(stack: DemoStack) -> dict[int, int]:
    """Each shard with a block, and its tree size, as the API says now."""
    items = (await stack.get("/v1/shards"))["items"]
    return {s["shard"]: s["head"]["tree_size"] for s in items if s["head"] is not None}


async def wait_for_growth(stack: DemoStack, sizes: dict[int, int], timeout_s: float = 60) -> int:
    """A shard whose log grew past ``sizes`` (the demo's inference traffic keeps sealing blocks)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        grown = [shard for shard, size in (await sealed_shards(stack)).items() if size > sizes.get(shard, 0)]
        if grown:
            return grown[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no shard grew past {sizes} in {timeout_s} s")


async def wait_for_blocks(stack: DemoStack, count: int, timeout_s: float = 90) -> int:
    """A shard with at least ``count`` blocks."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = (await stack.get("/v1/shards"))["items"]
        full = [s["shard"] for s in items if s["head"] is not None and s["head"]["height"] + 1 >= count]
        if full:
            return int(full[0])
        await asyncio.sleep(0.5)
    raise AssertionError(f"no shard reached {count} blocks in {timeout_s} s")


async def tamper(route: Route) -> None:
    """Pass the real consistency answer on with its first proof hash changed."""
    response = await route.fetch()
    body: dict[str, Any] = await response.json()
    if body.get("proof"):
        body["proof"][0] = base64.b64encode(bytes(32)).decode()
    await route.fulfill(response=response, body=json.dumps(body))


async def test_ledger_view_shows_the_demo_ledger(demo_stack: DemoStack, page: Page) -> None:  # noqa: F811
    anchored = (await demo_stack.get("/v1/anchors", limit=1))["items"]
    errors = collect_page_errors(page)
    checks = await visit(page, demo_stack)
    view = page.locator("#ledger")
    assert set(checks) == set(await sealed_shards(demo_stack))
    for check in checks.values():
        assert check["state"] == "remembered", check
        assert "signed by the server's own keys" in check["message"]  # none pinned in this profile
    every_shard = (await demo_stack.get("/v1/shards"))["items"]
    assert await view.locator("table").first.locator("tbody tr").count() == len(every_shard)

    keys = (await demo_stack.get("/v1/keys"))["items"]
    assert {k["role"] for k in keys} == {"sealer", "anchorer"}
    text = await view.inner_text()
    for key in keys:
        assert key["verifier_key"] in text
    assert "now (current)" in text

    anchors = view.locator("table", has=page.locator("th", has_text="receipts"))
    assert "rfc3161" in await anchors.inner_text()
    # Newest first: the first row is the newest statement when the API was asked, or a later one.
    assert int(await anchors.locator("tbody tr td").first.inner_text()) >= anchored[0]["seq"]
    await anchors.locator("button", has_text="receipts").first.click()
    receipts = view.locator(".ledger-receipts table").first
    await receipts.wait_for()
    assert re.search(r"rfc3161\s+token time 20\d\d-\d\d-\d\dT", await receipts.inner_text())

    # The witnesses are the demo federation's: each cosigns the checkpoints of the quiet shards.
    policy = (demo_stack.data_dir / "witnesses" / "policy.txt").read_text()
    names = [vkey.split("+")[0] for vkey in re.findall(r"^witness \S+ (\S+)", policy, re.MULTILINE)]
    assert len(names) == 2, policy
    cosigners = view.locator("table", has=page.locator("th", has_text="latest cosignature"))
    witnesses = await cosigners.inner_text()
    for name in names:
        assert name in witnesses

    # A quiet shard's details: its checkpoint's log signature and each witness's cosignature.
    quiet = min(checks, key=lambda shard: int(re.findall(r"size (\d+)", checks[shard]["message"])[0]))
    details = view.locator(f'details.ledger-shard[data-shard="{quiet}"]')
    await details.locator("summary").click()
    signers = await details.locator("table").first.inner_text()
    assert "log signature" in signers
    for name in names:
        assert re.search(rf"{re.escape(name)}\s+[0-9a-f]{{8}}\s+witness cosignature\s+20\d\d-", signers), (
            signers
        )
    assert [error for error in errors if error.startswith("uncaught")] == []


async def test_blocks_are_listed_a_page_at_a_time(demo_stack: DemoStack, page: Page) -> None:  # noqa: F811
    busy = await wait_for_blocks(demo_stack, 41)  # the demo's inference traffic seals a few blocks a second
    await visit(page, demo_stack)
    details = page.locator(f'#ledger details.ledger-shard[data-shard="{busy}"]')
    await details.locator("summary").click()
    rows = details.locator(".ledger-paged tbody tr")
    await rows.nth(19).wait_for()
    assert await rows.count() == 20
    await details.locator("button", has_text="more blocks").click()
    await rows.nth(39).wait_for()
    heights = await details.locator(".ledger-paged tbody tr td:first-child").all_inner_texts()
    assert [int(height) for height in heights] == list(range(40))


async def test_a_return_visit_checks_the_log_only_grew(demo_stack: DemoStack, page: Page) -> None:  # noqa: F811
    first = await visit(page, demo_stack)
    remembered = {shard: int(re.findall(r"size (\d+)", c["message"])[0]) for shard, c in first.items()}
    grown = await wait_for_growth(demo_stack, remembered)

    # The server rewrote history, as far as this browser can tell: the proof does not check.
    await page.route(CONSISTENCY, tamper)
    tampered = await visit(page, demo_stack)
    assert tampered[grown]["state"] == "failed", tampered[grown]
    assert tampered[grown]["message"].startswith(f"REWRITTEN LOG: size {remembered[grown]} -> "), tampered
    alert = page.locator("#ledger .ledger-alert", has_text=f"Shard {grown}: REWRITTEN LOG")
    assert await alert.is_visible()
    await page.unroute(CONSISTENCY)

    # The failure kept the old checkpoint: the honest answer now proves the whole way from it.
    again = await visit(page, demo_stack)
    for shard, check in again.items():
        assert check["state"] == "consistent", (shard, check)
    message = again[grown]["message"]
    assert message.startswith("consistent since your last visit"), message
    old, new = (int(n) for n in re.findall(r"\(size (\d+) -> (\d+)\)", message)[0])
    assert old == remembered[grown] < new, message
    assert await page.locator("#ledger .ledger-alert").count() == 0


HOSTILE = '<img src=x onerror="window.pwned=1">'


async def hostile(route: Route) -> None:
    """The real answer with markup in every name a server controls, and a shard named like a path."""
    response = await route.fetch()
    body: dict[str, Any] = await response.json()
    for item in body.get("items", []):
        for field in ("name", "topic", "origin", "created_at"):
            if field in item:
                item[field] = HOSTILE
    sealed = [item for item in body["items"] if item.get("head") is not None]
    if "/v1/shards" in route.request.url and sealed:
        body["items"].append({**sealed[0], "shard": "../../v1/keys"})
    await route.fulfill(response=response, body=json.dumps(body))


async def test_what_the_server_says_is_shown_as_text(demo_stack: DemoStack, page: Page) -> None:  # noqa: F811
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("**/v1/keys?*", "**/v1/shards?*", "**/v1/anchors?*", "**/v1/anchors"):
        await page.route(path, hostile)
    checks = await visit(page, demo_stack)
    assert set(checks) == set(await sealed_shards(demo_stack))  # the path-named shard was dropped
    view = page.locator("#ledger")
    assert (await view.inner_text()).count(HOSTILE) >= 3  # key names, shard topics, statement origins
    assert await view.locator("img").count() == 0
    assert await page.evaluate("() => window.pwned") is None
    # The browser resolves /tlog/../../v1/keys/checkpoint to /v1/keys/checkpoint: never asked for.
    assert [url for url in requested if urlsplit(url).path.startswith("/v1/keys/")] == []


async def test_keys_pinned_in_the_page_vouch_for_the_checkpoints(demo_stack: DemoStack, page: Page) -> None:  # noqa: F811
    await visit(page, demo_stack)
    # The user pins the key file `up` wrote (the sealer's and the anchorer's public keys) and
    # names the log, as the page's trust bar asks.
    trusted = demo_stack.data_dir / "keys" / "trusted-keys.txt"
    key_file = FilePayload(name=trusted.name, mimeType="text/plain", buffer=trusted.read_bytes())
    await page.set_input_files("#key-file", files=[key_file])
    await page.wait_for_function("() => localStorage.getItem('provledger.pinnedKeys') !== null")
    await page.fill("#origin", "provledger.local/ledger")
    await page.locator("#origin").dispatch_event("change")
    again = await visit(page, demo_stack)
    for shard, check in again.items():
        assert check["state"] == "consistent", (shard, check)
        assert check["message"].endswith("signed by your pinned keys"), check
    keys = await page.locator("#ledger table", has=page.locator("th", has_text="valid from")).inner_text()
    assert keys.count("pinned by you") == 2, keys
