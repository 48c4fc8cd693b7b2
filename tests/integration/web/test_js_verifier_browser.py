"""The verifier's modules, unchanged, give the same verdicts in headless Chromium (Debian's, through
playwright) as ``provledger verify`` gives for the same valid and tampered bundles.

The page is served from ``http://127.0.0.1`` (a secure context, where WebCrypto's Ed25519 and
SHA-256 exist); bundles, keys and the witness policy are fetched by the page as the explorer does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Page
from tests.helpers.ledger_sealing import LOG_ORIGIN
from tests.helpers.tampered_bundles import ANCHORER, SEALER, dump, keys_text, policy_text
from tests.helpers.tampered_bundles import cases as every_case
from tests.integration.web.conftest import Stamped

VERIFY = Path(__file__).parents[3] / "services" / "provledger" / "web" / "static" / "js" / "verify"
#: Verifies every bundle the server lists with the page's own fetches; returns each verdict's outline.
SCRIPT = """async () => {
  const { createVerifier, parseVerifierKeys } = await import("/verify/index.js");
  const text = async (path) => (await fetch(path)).text();
  const verifier = createVerifier({
    pinnedKeys: parseVerifierKeys(await text("/keys.txt")).map((k) => k.vkey),
    serverKeys: [], logOrigin: await text("/origin.txt"), witnessPolicy: await text("/policy.txt"),
  });
  const names = await (await fetch("/bundles/")).json();
  const verdicts = {};
  for (const name of names) {
    const v = await verifier.verifyBundle(await (await fetch(`/bundles/${name}`)).json());
    verdicts[name] = { status: v.status, first: v.checks.find((c) => c.ok === false)?.name ?? null,
                       receipts: v.receipts.map((r) => [r.type, r.status]) };
  }
  return verdicts;
}"""


@pytest.fixture
async def served(stamped: Stamped) -> AsyncIterator[tuple[str, dict[str, tuple[str, str | None]]]]:
    """Serve the verifier's modules and every bundle; yield the URL and each case's name and first failure."""
    named = every_case(stamped.token)
    cases = {f"case-{i}": (name, *case) for i, (name, case) in enumerate(named.items())}
    texts = {
        "/keys.txt": keys_text(SEALER, ANCHORER),
        "/policy.txt": policy_text(),
        "/origin.txt": LOG_ORIGIN,
        "/bundles/": json.dumps(list(cases)),
        "/": "<!doctype html><title>verifier</title>",
        **{f"/bundles/{case}": dump(bundle) for case, (_, bundle, _) in cases.items()},
    }

    async def answer(request: web.Request) -> web.Response:
        if request.path not in texts:
            raise web.HTTPNotFound()
        kind = "text/html" if request.path == "/" else "application/json"
        return web.Response(text=texts[request.path], content_type=kind)

    app = web.Application()
    app.router.add_static("/verify/", VERIFY)
    app.router.add_get("/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/")), {case: (name, first) for case, (name, _, first) in cases.items()}
    finally:
        await server.close()


async def test_chromium_verdicts_match_provledger_verify(
    page: Page, served: tuple[str, dict[str, tuple[str, str | None]]]
) -> None:
    url, expected = served
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    verdicts: dict[str, dict[str, Any]] = await page.evaluate(SCRIPT)
    assert errors == []
    assert set(verdicts) == set(expected)
    for case, (name, first) in expected.items():
        verdict = verdicts[case]
        assert verdict["first"] == first, (name, verdict)
        assert verdict["status"] == ("verified" if first is None else "failed"), (name, verdict)
    anchored = next(case for case, (name, _) in expected.items() if name == "anchored")
    assert verdicts[anchored]["receipts"] == [["rfc3161", "unchecked"], ["tlog-witness", "verified"]]
