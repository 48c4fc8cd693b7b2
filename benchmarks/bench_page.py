"""The explorer page in headless chromium: drawing a 500-node lineage and verifying 100 edges.

Seals a synthetic ML lineage into an embedded Postgres (one source dataset feeding 25 pipelines
of 10 steps each: features, checkpoints, a model; each step a run whose START records what it
used and whose COMPLETE what it produced, so every edge has its own event and bundle), serves it
with ``provledger api`` (public reads) and drives the page with Debian's chromium:

- **draw**: from submitting the lineage form (501 nodes, 500 edges, downstream, depth 20) until
  the page has laid the graph out, drawn it and listed its edges, and of that the page's own
  work (app.js's ``provledger:render`` User Timing measure: layout, drawing, tables); beside
  both, the same ``/v1/lineage`` JSON fetched and parsed in the same page (target < 1 s);
- **verify**: from submitting a 101-node cut of the same graph until each of its 100 edges has
  its badge (evidence fetched and checked with WebCrypto against a pinned key), and of that the
  time from drawing to the last verdict (``provledger:checked``); beside both, the same 100
  bundles fetched and parsed in the page without verifying (target < 2 s).

Each figure is the median of ``--rounds`` fresh pages. ``--screenshots DIR`` also writes the
README's pictures of the page (a model's upstream lineage verified against the pinned key, a
serving run's predictions collapsed into a cluster, the as-of slider) into ``DIR``::

    .venv/bin/python benchmarks/bench_page.py                  # about a minute
    .venv/bin/python benchmarks/bench_page.py --screenshots docs/screenshots
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Browser, FilePayload, Page, expect

from provledger.api.tokens import create_token, parse_scopes
from provledger.events import ArtifactRef, Event, EventType, Job, Run
from provledger.ledger.keys import SigningKey
from provledger.local import local_servers
from provledger.local.process import ManagedProcess, free_port
from provledger.sealer.intake import accept
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block
from provledger.store.keys import register_key
from provledger.store.migrate import migrate_database
from report import Figure, print_figures, write_summary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' chromium launcher, so both start the browser alike
from tests.helpers.browser import CHROMIUM, chromium_available, launched_chromium  # noqa: E402

DEFAULT_JSON = Path("benchmarks/results/page.json")
LOG_ORIGIN = "bench.provledger/page"
KEY = SigningKey.generate(LOG_ORIGIN)
NAMESPACE = "bench"
PIPELINES, STEPS = 25, 10
PREDICTIONS = 40
BLOCK_EVENTS = 16
#: The cut of the graph whose edges are verified: the source and four levels of 25 (100 edges).
VERIFY_NODES = 101
WAIT_MS = 120_000
PRODUCER = "https://provledger.test/bench-page"


def _artifact(name: str, kind: str, version: str | None = None) -> ArtifactRef:
    digest = "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, f"{name}@{version}").hex * 2
    return ArtifactRef(NAMESPACE, name, digest, kind, version)


SOURCE = _artifact("raw/clickstream", "dataset", "2026-12")
SERVED_MODEL = _artifact("models/ctr-ranker", "model", "7")


def _step_kind(step: int) -> str:
    return "features" if step < 3 else "checkpoint" if step < STEPS - 1 else "model"


def _run(job: str, inputs: list[ArtifactRef], outputs: list[ArtifactRef]) -> list[Event]:
    """A run as the SDK records it: START naming its inputs, COMPLETE naming its outputs."""
    run, where = Run(str(uuid.uuid4())), Job(NAMESPACE, job)
    start = Event.new(EventType.START, job=where, run=run, producer=PRODUCER, inputs=inputs)
    done = Event.new(EventType.COMPLETE, job=where, run=run, producer=PRODUCER, outputs=outputs)
    return [start, done]


def lineage_events() -> list[Event]:
    """The pipelines (downstream of SOURCE), then a trained and served model with its predictions."""
    events: list[Event] = []
    for pipeline in range(PIPELINES):
        used = SOURCE
        for step in range(STEPS):
            made = _artifact(f"pipelines/p{pipeline:02d}/step-{step}", _step_kind(step), "1")
            events += _run(f"pipeline-{pipeline:02d}-step-{step}", [used], [made])
            used = made
    holdout = _artifact("features/ctr-holdout", "features", "3")
    events += _run("train-ctr", [holdout], [SERVED_MODEL])
    predictions = [_artifact(f"predictions/req-{i:04d}", "prediction") for i in range(PREDICTIONS)]
    events += _run("ctr-ranker-serving", [SERVED_MODEL], predictions)
    return events


async def seal_events(dsn: str, events: list[Event]) -> None:
    """Seal ``events`` into blocks of BLOCK_EVENTS on one shard, as the sealer would."""
    conn = await asyncpg.connect(dsn)
    try:
        await register_key(conn, KEY.verifier, 0)
        shard = await ensure_shard(conn, "provledger.events", 0)
        log = ShardLog(await load_head(conn, shard), LOG_ORIGIN)
        # A block a minute, ending now: the as-of slider then has marks a person can tell apart.
        sealed_at = time.time_ns() // 1000 - (len(events) // BLOCK_EVENTS + 1) * 60_000_000
        for start in range(0, len(events), BLOCK_EVENTS):
            sealed_at += 60_000_000
            first = log.next_offset
            batch = events[start : start + BLOCK_EVENTS]
            accepted = [accept(event, first + i) for i, event in enumerate(batch)]
            block = log.seal(accepted, first, first + len(accepted) - 1, KEY, sealed_at)
            await write_block(conn, block, first)
    finally:
        await conn.close()


@asynccontextmanager
async def api_serving(dsn: str, kafka: str, work: Path) -> AsyncIterator[str]:
    """``provledger api`` with public reads on a free port; its base URL once /healthz answers."""
    port = free_port()
    tokens = work / "tokens"
    create_token(tokens, parse_scopes("read"), "bench")
    env = {
        "PATH": "/usr/bin:/bin",
        "PROVLEDGER_DATABASE_URL": dsn,
        "PROVLEDGER_KAFKA_BOOTSTRAP": kafka,
        "PROVLEDGER_LOG_ORIGIN": LOG_ORIGIN,
        "PROVLEDGER_TOKENS_FILE": str(tokens),
        "PROVLEDGER_PUBLIC_READS": "true",
        "PROVLEDGER_API_PORT": str(port),
        "PROVLEDGER_LOG_LEVEL": "WARNING",
    }
    process = ManagedProcess("api", [sys.executable, "-m", "provledger", "api"], work / "api.log", env=env)
    url = f"http://127.0.0.1:{port}"

    def probe() -> None:
        httpx.get(f"{url}/healthz", timeout=2).raise_for_status()

    try:
        process.wait_ready(probe, timeout_s=60, what="the API")
        yield url
    finally:
        process.stop()


async def node_of(url: str, artifact: ArtifactRef) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        found = (await client.get("/v1/artifacts", params={"digest": artifact.digest})).json()
    node: str = found["items"][0]["node"]
    return node


async def new_page(browser: Browser, url: str) -> Page:
    """A fresh profile on the page, with the sealer's key pinned."""
    context = await browser.new_context(viewport={"width": 1500, "height": 950}, accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{url}/")
    pinned = KEY.verifier.verifier_key_string().encode()
    keys = FilePayload(name="keys.txt", mimeType="text/plain", buffer=pinned)
    await page.set_input_files("#key-file", files=[keys])
    await expect(page.locator("#keys-status")).to_contain_text("1 pinned key:", timeout=WAIT_MS)
    return page


async def show_lineage(page: Page, node: str, direction: str, depth: int, max_nodes: int) -> None:
    await page.fill("#lineage-form input[name=node]", node)
    await page.select_option("#lineage-form select[name=direction]", direction)
    await page.fill("#lineage-form input[name=depth]", str(depth))
    await page.fill("#lineage-form input[name=max_nodes]", str(max_nodes))
    await page.click("#lineage-form button[type=submit]")


async def timed(work: Callable[[], Awaitable[object]]) -> float:
    """Seconds the awaited browser work takes (wall clock, as a user waits)."""
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def page_measure(page: Page, name: str) -> float:
    """Seconds of the page's latest User Timing measure ``name`` (app.js marks its phases)."""
    for _ in range(100):
        durations: list[float] = await page.evaluate(
            "name => performance.getEntriesByName(name, 'measure').map(m => m.duration)", name
        )
        if durations:
            return durations[-1] / 1000
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the page recorded no {name} measure")


async def draw_round(browser: Browser, url: str, source: str, query: str) -> tuple[float, float, float]:
    """Seconds to fetch the graph's JSON in a fresh page, to show it there (as a user waits, from
    submitting the form), and of that, the page's own work (laying out, drawing, listing)."""
    page = await new_page(browser, url)
    try:
        # Hold back evidence so only the drawing is timed (verification has its own figure).
        await page.route("**/v1/events/*/evidence", lambda route: route.abort())
        fetched = await timed(lambda: page.evaluate(f"fetch('{query}').then(r => r.json())"))

        async def draw() -> None:
            await show_lineage(page, source, "downstream", 20, 600)
            await expect(page.locator("#edge-rows tr")).to_have_count(PIPELINES * STEPS * 2, timeout=WAIT_MS)

        drawn = await timed(draw)
        return fetched, drawn, await page_measure(page, "provledger:render")
    finally:
        await page.context.close()


async def verify_round(
    browser: Browser, url: str, source: str, query: str
) -> tuple[float, float, float, int]:
    """Seconds to fetch a cut graph's bundles in a fresh page, to check its edges there (from
    submitting the form; and in the page, from drawing to the last verdict), and how many."""
    page = await new_page(browser, url)
    try:
        graph = await page.evaluate(f"fetch('{query}').then(r => r.json())")
        paths = [edge["recorded"]["evidence"] for edge in graph["edges"]]
        fetch_all = "paths => Promise.all(paths.map(p => fetch(p).then(r => r.json())))"
        fetched = await timed(lambda: page.evaluate(fetch_all, paths))

        async def verify_all() -> None:
            await show_lineage(page, source, "downstream", 20, VERIFY_NODES)
            verified = page.locator("#edge-rows tr[data-status=verified]")
            await expect(verified).to_have_count(len(paths), timeout=WAIT_MS)
            await expect(page.locator("#edge-rows tr[data-status=pending]")).to_have_count(0)

        waited = await timed(verify_all)
        return fetched, waited, await page_measure(page, "provledger:checked"), len(paths)
    finally:
        await page.context.close()


async def measure(browser: Browser, url: str, rounds: int) -> list[Figure]:
    source = await node_of(url, SOURCE)
    query = f"/v1/lineage?node={source}&direction=downstream&depth=20&max_nodes="
    draws = [await draw_round(browser, url, source, f"{query}600") for _ in range(rounds)]
    checks = [await verify_round(browser, url, source, f"{query}{VERIFY_NODES}") for _ in range(rounds)]
    checked = checks[0][3]

    def ms(values: Sequence[tuple[float, ...]], at: int) -> float:
        return statistics.median(v[at] for v in values) * 1000

    on_graph, on_bundles = "its /v1/lineage JSON fetched in the page", "their bundles fetched in the page"
    return [
        Figure("show a 501-node lineage (submit to drawn)", ms(draws, 1), "ms", ms(draws, 0), on_graph),
        Figure("  of which the page lays out and draws it", ms(draws, 2), "ms", ms(draws, 0), on_graph),
        Figure(
            f"verify {checked} edges (submit to last badge)",
            ms(checks, 1),
            "ms",
            ms(checks, 0),
            on_bundles,
        ),
        Figure("  of which fetching and checking bundles", ms(checks, 2), "ms", ms(checks, 0), on_bundles),
    ]


async def screenshots(browser: Browser, url: str, folder: Path) -> None:
    """The README's pictures: upstream of a model, a cluster of predictions, the as-of slider."""
    page = await new_page(browser, url)
    verified = page.locator("#edge-rows tr[data-status=verified]")
    last = _artifact(f"pipelines/p03/step-{STEPS - 1}", "model", "1")
    await show_lineage(page, await node_of(url, last), "upstream", 20, 500)
    await expect(verified).to_have_count(STEPS * 2, timeout=WAIT_MS)
    await page.click("details:has(#node-table) > summary")  # the node list, to select from it
    await page.click(f'#node-rows button:has-text("step-{STEPS - 1}")')
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(folder / "explorer-upstream-verified.png"), full_page=False)

    await show_lineage(page, await node_of(url, SERVED_MODEL), "both", 3, 500)
    await expect(page.locator("#edge-rows tr")).to_have_count(4, timeout=WAIT_MS)
    await page.click('#node-rows button:has-text("prediction")')
    await page.fill("#details input[type=search]", "req-001")
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(folder / "explorer-cluster.png"), full_page=False)

    await show_lineage(page, await node_of(url, last), "upstream", 20, 500)
    await expect(verified).to_have_count(STEPS * 2, timeout=WAIT_MS)
    await page.locator("#as-of").fill("0")
    await page.check("#show-later")
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(folder / "explorer-as-of.png"), full_page=False)
    await page.context.close()
    print(f"screenshots written to {folder}")


async def main(args: argparse.Namespace) -> None:
    if not chromium_available():
        sys.exit(f"no chromium at {CHROMIUM}: apt-get install -y chromium (or set PROVLEDGER_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        work = Path(tmp)
        with local_servers(data_dir=work / "servers", mode="embedded", durable=False) as servers:
            await migrate_database(servers.database_url)
            print("sealing the synthetic lineage...", flush=True)
            await seal_events(servers.database_url, lineage_events())
            async with (
                api_serving(servers.database_url, servers.kafka_bootstrap, work) as url,
                launched_chromium() as browser,
            ):
                if args.screenshots:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    await screenshots(browser, url, args.screenshots)
                figures = await measure(browser, url, args.rounds)
    print_figures(f"explorer page in headless chromium (median of {args.rounds} fresh pages)", figures)
    write_summary(args.json, "page", figures, rounds=args.rounds, pipelines=PIPELINES, steps=STEPS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="fresh pages per figure (median)")
    parser.add_argument("--screenshots", type=Path, help="also write the README's screenshots here")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    asyncio.run(main(parser.parse_args()))
