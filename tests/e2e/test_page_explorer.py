"""The explorer page in headless chromium against a real sealed demo ledger and ``provledger api``.

The demo's story goes through Kafka, is sealed into signed blocks of 16 events (so edges are
recorded at several seal times), and the API runs as its own process with public reads. The page
is driven as a user would: search, open the lineage, pin the key file, move the slider.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Download, FilePayload, Page, Route, expect
from tests.helpers.api_harness import KEY, api_process, seal
from tests.helpers.browser import collect_page_errors
from tests.helpers.demo_ledger import seal_demo

from provledger.config import KafkaSettings
from provledger.demo.story import DEMO_DEPLOYMENT, DEMO_MODEL, DEMO_MODEL_UPSTREAM, NAMESPACE, SERVING_JOB
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.events.openlineage import SUBMITTER_ATTRIBUTE

#: Seconds a page may take to search, draw or check (a generous bound for a busy 2-core machine).
WAIT_MS = 30_000


#: Seconds of demo inference traffic at 20 a second: more predictions than a cluster needs.
INFERENCE_S = 0.6


@dataclass(frozen=True)
class DemoLedger:
    url: str
    key_file: bytes  # the sealer's verifier key, as a user's key file holds it
    read_token: str


@pytest.fixture
async def demo_ledger(
    request: pytest.FixtureRequest, database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> AsyncIterator[DemoLedger]:
    """The demo's events sealed for real, served by ``provledger api`` (public reads unless
    the test is parametrized indirectly with ``"private"``)."""
    public = getattr(request, "param", "public") == "public"
    await seal_demo(database_url, kafka_settings, block_size=16, duration_s=INFERENCE_S)
    reads = "true" if public else "false"
    async with api_process(database_url, kafka_settings, tmp_path, public_reads=reads) as api:
        yield DemoLedger(api.url, f"{KEY.verifier.verifier_key_string()}\n".encode(), api.tokens.read)


async def open_demo_model(page: Page, ledger: DemoLedger, direction: str = "upstream") -> None:
    """Search the demo model by a substring of its name and open its lineage from the hit."""
    await page.goto(f"{ledger.url}/")
    await page.select_option("#lineage-form select[name=direction]", direction)
    await page.fill("#lineage-form input[name=depth]", "20")
    await page.fill("#search-q", "ctr-rank")
    await page.click("#search-form button[type=submit]")
    hit = page.locator(f'#search-results li[data-type=artifact]:has-text("{DEMO_MODEL.name}")').first
    await hit.wait_for(timeout=WAIT_MS)
    await hit.get_by_role("button", name="lineage").click()
    await page.locator("#edge-rows tr").first.wait_for(timeout=WAIT_MS)


async def pin_key_file(page: Page, ledger: DemoLedger) -> None:
    key_file = FilePayload(name="keys.txt", mimeType="text/plain", buffer=ledger.key_file)
    await page.set_input_files("#key-file", files=[key_file])
    await expect(page.locator("#keys-status")).to_contain_text("1 pinned key:", timeout=WAIT_MS)


async def downloaded(download: Download) -> bytes:
    """The bytes of a finished download."""
    path = await download.path()
    return await asyncio.to_thread(path.read_bytes)


async def edge_statuses(page: Page) -> list[str]:
    """Each listed edge's check, once none is still pending."""
    await expect(page.locator("#edge-rows tr[data-status=pending]")).to_have_count(0, timeout=WAIT_MS)
    statuses: list[str] = await page.eval_on_selector_all(
        "#edge-rows tr", "rows => rows.map(r => r.dataset.status)"
    )
    return statuses


async def test_search_open_the_demo_model_and_verify_every_edge_against_the_pinned_key(
    page: Page, demo_ledger: DemoLedger
) -> None:
    errors = collect_page_errors(page)
    response = await page.goto(f"{demo_ledger.url}/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    await pin_key_file(page, demo_ledger)
    await page.reload()  # pinned keys stay in this browser's local storage
    await expect(page.locator("#keys-status")).to_contain_text("1 pinned key:", timeout=WAIT_MS)
    await open_demo_model(page, demo_ledger)

    shown = set(await page.eval_on_selector_all("#node-rows tr", "rows => rows.map(r => r.dataset.node)"))
    names = await page.eval_on_selector_all(
        "#node-rows tr td:first-child", "cells => cells.map(c => c.textContent)"
    )
    expected = {a.name for a in DEMO_MODEL_UPSTREAM} | {DEMO_MODEL.name}
    assert {name.split("@")[0] for name in names if not name.startswith("run ")} == expected
    assert any(node.startswith("run:") for node in shown)

    statuses = await edge_statuses(page)
    assert statuses, "no edge listed"
    assert set(statuses) == {"verified"}, await page.inner_text("#edge-rows")
    assert await page.is_hidden("#banner")

    # An edge's details: the event that recorded it, and its bundle to take away.
    first = page.locator("#edge-rows tr").first
    event_id = await page.locator("#edge-rows tr").first.get_attribute("data-edge")
    assert event_id
    await first.locator("td.badge button").click()
    details = page.locator("#details")
    await expect(details).to_contain_text("check")
    await expect(details).to_contain_text("verified")
    await expect(details.locator("table.facts").nth(1)).to_contain_text(
        "shard / block / leaf", timeout=WAIT_MS
    )
    shown_event = await details.locator("code").first.inner_text()
    async with page.expect_download() as bundle_download:
        await details.get_by_role("button", name="Download the evidence bundle").click()
    bundle = json.loads(await downloaded(await bundle_download.value))
    assert bundle["format"] == "provledger-evidence/v1"
    assert bundle["event"]["event_id"] == shown_event
    assert errors == []


async def test_without_pinned_keys_edges_are_only_consistent_with_the_servers_keys(
    page: Page, demo_ledger: DemoLedger
) -> None:
    await open_demo_model(page, demo_ledger)
    assert set(await edge_statuses(page)) == {"server-keys"}
    assert await page.is_hidden("#banner")

    # A graph the server cut at the node cap says so.
    await page.fill("#lineage-form input[name=max_nodes]", "3")
    await page.click("#lineage-form button[type=submit]")
    await expect(page.locator("#banner")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#banner")).to_contain_text("cut this graph at 3 nodes")
    await expect(page.locator("#node-rows tr")).to_have_count(3)


async def test_a_bundle_changed_in_flight_fails_with_the_reason(page: Page, demo_ledger: DemoLedger) -> None:
    tampered: list[str] = []

    async def flip_a_proof_hash(route: Route) -> None:
        response = await route.fetch()
        bundle = json.loads(await response.body())
        if not tampered and bundle["inclusion_proof"]:
            proof = bundle["inclusion_proof"][0]
            bundle["inclusion_proof"][0] = ("B" if proof[0] == "A" else "A") + proof[1:]
            tampered.append(bundle["event"]["event_id"])
        await route.fulfill(response=response, body=json.dumps(bundle))

    await page.goto(f"{demo_ledger.url}/")
    await pin_key_file(page, demo_ledger)
    await page.route("**/v1/events/*/evidence", flip_a_proof_hash)
    await open_demo_model(page, demo_ledger)

    statuses = await edge_statuses(page)
    assert tampered, "no bundle passed through the route"
    failed = page.locator("#edge-rows tr[data-status=failed]")
    assert await failed.count() >= 1
    reason = await failed.first.locator("td.reason").inner_text()
    assert "inclusion" in reason.lower(), reason
    assert statuses.count("verified") == len(statuses) - await failed.count()


@pytest.mark.parametrize(
    "evidence", ["//elsewhere.invalid/bundle", "/\\elsewhere.invalid/bundle", "https://elsewhere.invalid/b"]
)
async def test_an_evidence_link_to_another_origin_is_never_fetched(
    page: Page, demo_ledger: DemoLedger, evidence: str
) -> None:
    elsewhere: list[str] = []
    page.on("request", lambda request: elsewhere.append(request.url) if "elsewhere" in request.url else None)

    async def point_one_edge_elsewhere(route: Route) -> None:
        response = await route.fetch()
        graph = json.loads(await response.body())
        graph["edges"][0]["recorded"]["evidence"] = evidence
        await route.fulfill(response=response, body=json.dumps(graph))

    await page.route("**/v1/lineage?*", point_one_edge_elsewhere)
    await open_demo_model(page, demo_ledger)
    await edge_statuses(page)
    # Every edge that event recorded fails (verdicts are kept per event), and only those.
    reasons = await page.eval_on_selector_all(
        "#edge-rows tr[data-status=failed] td.reason", "cells => cells.map(c => c.textContent)"
    )
    assert reasons
    assert all("not a path of this API" in reason for reason in reasons), reasons
    assert set(await edge_statuses(page)) == {"failed", "server-keys"}
    assert elsewhere == []


async def test_a_bundle_of_another_event_fails_the_edge_it_was_served_for(
    page: Page, demo_ledger: DemoLedger
) -> None:
    served: dict[str, bytes] = {}

    async def swap_in_the_first_bundle(route: Route) -> None:
        response = await route.fetch()
        body = served.setdefault("first", await response.body())
        await route.fulfill(response=response, body=body)

    await page.goto(f"{demo_ledger.url}/")
    await pin_key_file(page, demo_ledger)
    await page.route("**/v1/events/*/evidence", swap_in_the_first_bundle)
    await open_demo_model(page, demo_ledger)
    statuses = await edge_statuses(page)
    first = json.loads(served["first"])["event"]["event_id"]
    reasons = await page.eval_on_selector_all(
        "#edge-rows tr[data-status=failed] td.reason", "cells => cells.map(c => c.textContent)"
    )
    assert len(reasons) == statuses.count("failed") > 0
    assert all(f'the bundle names event "{first}", not the expected event' in r for r in reasons), reasons
    assert "verified" in statuses  # the edges the first bundle's event did record


async def test_the_as_of_slider_hides_edges_recorded_later(page: Page, demo_ledger: DemoLedger) -> None:
    await open_demo_model(page, demo_ledger)
    recorded_now = await page.eval_on_selector_all(
        "#edge-rows tr td:nth-child(4)", "cells => cells.map(c => c.textContent)"
    )
    slider = page.locator("#as-of")
    marks = int(await slider.get_attribute("max") or "0")
    assert marks >= 2, "the demo's edges should span several blocks"
    await slider.fill("0")
    await expect(page.locator("#as-of-label")).to_contain_text("as sealed by", timeout=WAIT_MS)
    label = await page.inner_text("#as-of-label")
    cut = label.removeprefix("as sealed by ")
    recorded_then = await page.eval_on_selector_all(
        "#edge-rows tr td:nth-child(4)", "cells => cells.map(c => c.textContent)"
    )
    assert 0 < len(recorded_then) < len(recorded_now)
    assert all(at == cut for at in recorded_then)

    await page.check("#show-later")
    later = await page.eval_on_selector_all("#edge-rows tr[data-later=yes]", "rows => rows.length")
    assert later == len(recorded_now) - len(recorded_then)


async def test_a_large_level_is_one_cluster_the_user_filters_and_expands(
    page: Page, demo_ledger: DemoLedger
) -> None:
    await open_demo_model(page, demo_ledger, direction="downstream")
    await page.click("details:has(#node-table) > summary")
    cluster = page.locator("#node-rows tr[data-kind=prediction]")
    await expect(cluster).to_have_count(1)
    await expect(cluster).to_contain_text("cluster of")
    members = int((await cluster.locator("td").nth(1).inner_text()).removeprefix("cluster of "))
    assert members >= 8
    await expect(page.locator("#edge-rows tr[data-status=collapsed]")).to_have_count(1)

    await cluster.get_by_role("button").click()
    await page.fill("#details input[type=search]", "prediction/")
    await expect(page.locator("#details ul.members li")).to_have_count(members)
    await page.click("#details button:has-text('Expand')")
    await expect(page.locator("#node-rows tr[data-kind=prediction]")).to_have_count(members)
    assert set(await edge_statuses(page)) == {"server-keys"}


async def test_impact_list_as_csv_and_the_graph_as_png(page: Page, demo_ledger: DemoLedger) -> None:
    await open_demo_model(page, demo_ledger, direction="downstream")
    await page.click("details:has(#node-table) > summary")
    await page.click(f'#node-rows button:has-text("{DEMO_MODEL.name}@{DEMO_MODEL.version}")')
    async with page.expect_download() as csv_download:
        await page.click("#impact-csv")
    lines = (await downloaded(await csv_download.value)).decode().splitlines()
    assert lines[0] == "depth,type,node,namespace,name,kind,version,digest,job,run_id"
    rows = [line.split(",") for line in lines[1:]]
    assert all(len(row) == 10 for row in rows)
    assert [DEMO_DEPLOYMENT.digest] == [r[7] for r in rows if r[4] == DEMO_DEPLOYMENT.name]
    assert any(r[8] == f"{NAMESPACE}/{SERVING_JOB}" for r in rows)
    assert DEMO_MODEL.digest not in {r[7] for r in rows}  # the root is not its own impact

    async with page.expect_download() as png_download:
        await page.click("#png")
    assert (await downloaded(await png_download.value)).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("demo_ledger", ["private"], indirect=True)
async def test_with_private_reads_the_page_reads_with_the_token_typed_in(
    page: Page, demo_ledger: DemoLedger
) -> None:
    await page.goto(f"{demo_ledger.url}/")
    await expect(page.locator("#status")).to_contain_text("needs a read token")
    await page.fill("#token-form input[name=token]", demo_ledger.read_token)
    await page.click("#token-form button[type=submit]")
    await expect(page.locator("#keys-status")).to_contain_text("No pinned keys")
    assert await page.evaluate("sessionStorage.getItem('provledger.token')") == demo_ledger.read_token
    assert await page.evaluate("localStorage.getItem('provledger.token')") is None
    await open_demo_model(page, demo_ledger)
    assert set(await edge_statuses(page)) == {"server-keys"}


async def test_names_from_the_ledger_are_shown_as_text_never_as_markup(
    page: Page, database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    hostile = '<img src=x onerror="document.title=1">'
    dataset = ArtifactRef("ns", hostile, "sha256:" + "ee" * 32, "dataset")
    model = ArtifactRef("ns", "<script>alert(1)</script>", "sha256:" + "ff" * 32, "model")
    event = Event.new(EventType.COMPLETE, job=Job("ns", hostile), run=Run(str(uuid.uuid4())),
                      producer="https://hostile.test", inputs=[dataset], outputs=[model])  # fmt: skip
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, [event], block_size=1)
    finally:
        await conn.close()
    errors = collect_page_errors(page)
    async with api_process(database_url, kafka_settings, tmp_path, public_reads="true") as api:
        await page.goto(f"{api.url}/")
        await page.fill("#search-q", "onerror")
        await page.click("#search-form button[type=submit]")
        hit = page.locator("#search-results li[data-type=artifact]").first
        await expect(hit).to_contain_text(hostile, timeout=WAIT_MS)
        await hit.get_by_role("button", name="lineage").click()
        await expect(page.locator("#node-rows tr")).to_have_count(3, timeout=WAIT_MS)
        names = await page.eval_on_selector_all("#node-rows button", "cells => cells.map(c => c.textContent)")
        assert hostile in names
        assert model.name in names
        await page.click("details:has(#node-table) > summary")
        await page.click("#node-rows button >> nth=0")
        await expect(page.locator("#details")).to_contain_text("Artifact")
        assert await page.locator("img, #node-rows script, #details script").count() == 0
        assert await page.title() == "provledger explorer"
    assert errors == []


async def test_a_runs_details_list_its_events_and_who_submitted_each(
    page: Page, database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    run, job = Run(str(uuid.uuid4())), Job("etl", "nightly-load")
    dataset = ArtifactRef("etl", "tables/orders", "sha256:" + "ab" * 32, "dataset")
    # As the API seals what a token posted: the token's name in the event's own attributes.
    posted = Event.new(EventType.START, job=job, run=run, producer="https://airflow.test", inputs=[dataset],
                       attributes={SUBMITTER_ATTRIBUTE: "airflow-prod"})  # fmt: skip
    direct = Event.new(EventType.COMPLETE, job=job, run=run, producer="https://airflow.test")
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, [posted, direct], block_size=2)
    finally:
        await conn.close()
    async with api_process(database_url, kafka_settings, tmp_path, public_reads="true") as api:
        await page.goto(f"{api.url}/#node=run:{run.run_id}&direction=both")
        await expect(page.locator("#node-rows tr")).to_have_count(2, timeout=WAIT_MS)
        await page.click("details:has(#node-table) > summary")
        await page.click(f'#node-rows tr[data-node="run:{run.run_id}"] button')
        events = page.locator("#details ul.events li")
        await expect(events).to_have_count(2, timeout=WAIT_MS)
        started = events.filter(has_text=str(posted.event_id))
        await expect(started).to_contain_text("submitted by airflow-prod", timeout=WAIT_MS)
        completed = events.filter(has_text=str(direct.event_id))
        await expect(completed).to_contain_text("not submitted through the API", timeout=WAIT_MS)
