"""The page's evidence set, built by its own JavaScript from real API answers, is a ZIP Python reads
and its README's commands verify every bundle with ``provledger verify``; a changed or substituted
bundle makes them fail.

The JavaScript runs in Node (the modules are plain ES modules, the same files the browser loads);
the browser's download of the same archive is tested in ``tests/e2e/test_page_evidence_set.py``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tests.helpers.api_harness import DATASET, LOG_ORIGIN, api_settings, client_for, events, seal
from tests.helpers.browser_ledger import assert_readme_verifies, readme_commands, run_shell, unpack

from provledger.config import KafkaSettings

STATIC = Path(__file__).parents[3] / "services" / "provledger" / "web" / "static" / "js"
#: Reads the request (JSON) on stdin, writes the archive's bytes, base64, on stdout.
BUILD = f"""
import {{ evidenceSetFiles }} from {json.dumps((STATIC / "evidence-set.js").as_uri())};
import {{ zipStore }} from {json.dumps((STATIC / "zip.js").as_uri())};
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString());
request.bundles = new Map(Object.entries(request.bundles));
const set = evidenceSetFiles(request);
process.stdout.write(Buffer.from(zipStore(set.files)).toString("base64"));
"""


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the page's modules need Node 20+ to run outside a browser")
    return found


def build_archive(request: dict[str, Any]) -> bytes:
    """The evidence set the page's modules build for ``request``, as ZIP bytes."""
    result = subprocess.run(
        [node(), "--input-type=module", "-e", BUILD],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return base64.b64decode(result.stdout)


@pytest.fixture
async def view(database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> dict[str, Any]:
    """A lineage view of real sealed events: the graph, each edge's bundle and the server's keys."""
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(7), block_size=3)
    finally:
        await conn.close()
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens.jsonl", public_reads=True)
    async with client_for(settings) as api:
        [dataset] = (await api.get("/v1/artifacts", params={"digest": DATASET.digest})).json()["items"]
        params = {"node": dataset["node"], "direction": "downstream", "depth": 2}
        graph = (await api.get("/v1/lineage", params=params)).json()
        ids = sorted({edge["recorded"]["event_id"] for edge in graph["edges"]})
        bundles = {i: (await api.get(f"/v1/events/{i}/evidence")).json() for i in ids}
        keys = (await api.get("/v1/keys")).json()["items"]
    assert len(ids) == 7, graph  # each run's used edge shares its first event: 7 events recorded edges
    return {"graph": graph, "bundles": bundles, "keys": {"server": keys}, "logOrigin": LOG_ORIGIN}


async def test_archive_unzips_and_its_readme_verifies_every_bundle(
    view: dict[str, Any], tmp_path: Path
) -> None:
    archive = tmp_path / "evidence.zip"
    archive.write_bytes(build_archive(view))
    entries, folder = unpack(archive)
    names = sorted(info.filename for info in entries)
    bundle_names = sorted(f"bundles/{i}.json" for i in view["bundles"])
    assert names == sorted(["README.md", "graph.json", "keys.json", "keys.txt", *bundle_names])
    assert all(info.compress_type == zipfile.ZIP_STORED for info in entries)
    assert json.loads((folder / "graph.json").read_text())["edges"] == view["graph"]["edges"]
    assert "UNPINNED" in (folder / "keys.txt").read_text()

    singles = assert_readme_verifies(folder)
    assert len(singles) == len(view["bundles"])
    # The same keys with their ranges, as the README offers: the API's times read to the microsecond.
    assert "--trusted-keys keys.json" in (folder / "README.md").read_text()
    for command in singles:
        result = run_shell(command.replace("keys.txt", "keys.json"), folder)
        assert result.returncode == 0, command + "\n" + result.stdout + result.stderr


async def test_readme_commands_fail_on_a_changed_or_substituted_bundle(
    view: dict[str, Any], tmp_path: Path
) -> None:
    first, second, *_ = sorted(view["bundles"])
    # The page was handed the second event's bundle for the first event: verify must notice.
    view["bundles"][first] = view["bundles"][second]
    archive = tmp_path / "evidence.zip"
    archive.write_bytes(build_archive(view))
    _, folder = unpack(archive)
    changed = folder / "bundles" / f"{second}.json"
    bundle = json.loads(changed.read_text())
    bundle["leaf_index"] += 1
    changed.write_text(json.dumps(bundle))

    loop, singles = readme_commands((folder / "README.md").read_text())
    failing = [command for command in singles if run_shell(command, folder).returncode != 0]
    assert failing == [c for c in singles if first in c or second in c]
    result = run_shell(loop, folder)
    assert result.returncode != 0
    assert "2 bundle(s) NOT verified" in result.stdout
