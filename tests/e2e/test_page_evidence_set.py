"""Evidence to take away, from the page in headless Chromium against the demo stack: the evidence
set of the demo model's lineage view, downloaded with the page's own button, is a ZIP whose
README commands verify every bundle with ``provledger verify`` (exit 0), and whose timestamp and
witness hints, given the stack's TSA roots and the witnesses' published keys, verify the bundles
that carry both receipts with ``--require rfc3161,witness``; one bundle downloads alone and verifies too.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from tests.helpers.browser import collect_page_errors
from tests.helpers.browser_ledger import (  # noqa: F401  (fixture)
    DemoStack,
    assert_readme_verifies,
    demo_stack,
    mount_script,
    run_shell,
    unpack,
)

from provledger.demo.story import DEMO_MODEL

pytestmark = pytest.mark.slow

#: What the README's hints add once the user supplies the trust they name.
STRICT = "--tsa-roots tsa-roots.pem --witness-policy witness-policy.txt --require rfc3161,witness"


async def demo_model_lineage(stack: DemoStack) -> tuple[str, dict[str, Any]]:
    """The demo model's node id and its upstream lineage, as the API answers."""
    [model] = [
        a
        for a in (await stack.get("/v1/artifacts", digest=DEMO_MODEL.digest))["items"]
        if (a["namespace"], a["name"]) == (DEMO_MODEL.namespace, DEMO_MODEL.name)
    ]
    graph = await stack.get("/v1/lineage", node=model["node"], direction="upstream", depth=20)
    assert graph["edges"], graph
    assert not graph["truncated"], graph
    return model["node"], graph


async def test_evidence_set_of_the_demo_model_verifies_offline(
    demo_stack: DemoStack,  # noqa: F811
    page: Page,
    tmp_path: Path,
) -> None:
    node, graph = await demo_model_lineage(demo_stack)
    errors = collect_page_errors(page)
    await page.goto(f"{demo_stack.api_url}/#node={node}&direction=upstream&depth=20")
    await page.locator("#edge-rows tr").nth(len(graph["edges"]) - 1).wait_for()
    try:
        async with page.expect_download() as download_info:
            await page.locator("#evidence-set").click()
        download = await download_info.value
    except PlaywrightError as exc:
        said = await page.locator("#status").inner_text()
        raise AssertionError(f"no download; the page says: {said}") from exc
    assert re.fullmatch(r"provledger-evidence-\d{4}-\d{2}-\d{2}-\d{6}\.zip", download.suggested_filename)
    archive = tmp_path / "evidence.zip"
    await download.save_as(archive)

    entries, folder = unpack(archive)
    ids = {edge["recorded"]["event_id"] for edge in graph["edges"]}
    bundles = {e.filename for e in entries if e.filename.startswith("bundles/")}
    assert bundles == {f"bundles/{i}.json" for i in ids}
    assert "UNPINNED" in (folder / "keys.txt").read_text()  # no key was pinned: the server's, said so
    singles = assert_readme_verifies(folder)
    assert len(singles) == len(ids)
    for command in singles:  # the same keys held to their ranges, read from the API's times
        result = run_shell(command.replace("keys.txt", "keys.json"), folder)
        assert result.returncode == 0, command + "\n" + result.stdout + result.stderr

    # The hints work as the README says once their trust is supplied: the TSA roots from the
    # stack (never from a bundle), the witness policy the archive wrote from the bundles' keys.
    readme = (folder / "README.md").read_text()
    assert "--tsa-roots tsa-roots.pem --require rfc3161" in readme
    assert "--witness-policy witness-policy.txt --require witness" in readme
    (folder / "tsa-roots.pem").write_bytes((demo_stack.data_dir / "tsa" / "ca.pem").read_bytes())
    published = (demo_stack.data_dir / "witnesses" / "policy.txt").read_text()  # the witnesses' own keys
    vkeys = re.findall(r"^witness \S+ (\S+)", published, re.M)
    keys = {"+".join(vkey.split("+")[:2]): vkey for vkey in vkeys}  # by "<name>+<key id>"
    hint = folder / "witness-policy.txt"
    placeholder = re.compile(r"^(witness \S+) REPLACE-WITH-THE-KEY-OF-(\S+)$", re.M)
    assert sorted(m[2] for m in placeholder.finditer(hint.read_text())) == sorted(keys)  # both cosigned
    hint.write_text(placeholder.sub(lambda m: f"{m[1]} {keys[m[2]]}", hint.read_text()))
    both = [
        path
        for path in (folder / "bundles").iterdir()
        if {"rfc3161", "tlog-witness"} <= {r["type"] for r in json.loads(path.read_text())["receipts"]}
    ]
    assert both, "no bundle of the demo model's lineage carries both receipts"
    for path in both:
        single = next(c for c in singles if path.name in c)
        strict = f"{single} {STRICT}"
        result = run_shell(strict, folder)
        assert result.returncode == 0, strict + "\n" + result.stdout + result.stderr
    assert [error for error in errors if error.startswith("uncaught")] == []


async def test_one_bundle_downloads_and_verifies(
    demo_stack: DemoStack,  # noqa: F811
    page: Page,
    tmp_path: Path,
) -> None:
    _, graph = await demo_model_lineage(demo_stack)
    event_id = graph["edges"][0]["recorded"]["event_id"]
    await page.goto(demo_stack.api_url + "/")
    download_one = mount_script(
        "evidence-set.js", f"m.downloadBundle(await api.getJSON('/v1/events/{event_id}/evidence'))"
    )
    async with page.expect_download() as download_info:
        assert await page.evaluate(download_one) == f"evidence-{event_id}.json"
    download = await download_info.value
    assert download.suggested_filename == f"evidence-{event_id}.json"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    keys = tmp_path / "keys.txt"
    keys.write_text("".join(k["verifier_key"] + "\n" for k in (await demo_stack.get("/v1/keys"))["items"]))
    command = (
        f"provledger verify {shlex.quote(str(saved))} --trusted-keys {shlex.quote(str(keys))} "
        f"--log-origin provledger.local/ledger --event-id {event_id}"
    )
    result = run_shell(command, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
