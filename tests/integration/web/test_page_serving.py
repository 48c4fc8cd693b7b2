"""How the API serves the explorer page: types, caching, the policy, refused paths, absent libraries.

Requests go through the real app (its middleware, routes and problem handlers) in process; paths
that an HTTP client would normalise (``..``) are sent as raw ASGI requests, as a hostile client
can send them on the wire.
"""

from __future__ import annotations

import re
import shutil
import tomllib
import zipfile
from collections.abc import AsyncIterator
from importlib.resources import as_file
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hatchling.builders.wheel import WheelBuilder
from tests.helpers.api_harness import api_settings, assert_problem, running

from provledger.api import web
from provledger.api.app import create_app
from provledger.config import KafkaSettings

ROOT = Path(__file__).resolve().parents[3]
VENDOR = ROOT / "services/provledger/web/static/vendor"
STATIC = ROOT / "services/provledger/web/static"


@pytest.fixture
def app(database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> FastAPI:
    """The API with private reads: the page must still load, with no token."""
    return create_app(api_settings(database_url, kafka_settings, tmp_path / "tokens.jsonl"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as http:
        yield http


async def raw_get(app: FastAPI, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` byte for byte as the ASGI server would pass it, with no client normalisation."""
    sent: list[dict[str, object]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"api")], "client": ("127.0.0.1", 1), "server": ("api", 80),
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}  # type: ignore[attr-defined]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    return start["status"], headers, body  # type: ignore[return-value]


def _vendored() -> None:
    if not (VENDOR / "cytoscape.esm.min.js").is_file():
        reason = "the page's libraries are not in web/static/vendor/: run make install (needs npm)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)


async def test_the_page_is_served_without_a_token_under_a_strict_policy(client: httpx.AsyncClient) -> None:
    _vendored()
    page = await client.get("/")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # No inline script or style the policy would have to allow.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts
    assert all('src="/ui/' in attributes and not body.strip() for attributes, body in scripts)
    assert not re.search(r"\sstyle=|<style\b|\son[a-z]+=", page.text)
    # The data stays behind the token rules: reads are private here.
    assert_problem(await client.get("/v1/shards"), 401, "unauthenticated")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/ui/js/app.js", "text/javascript; charset=utf-8"),
        ("/ui/js/lineage-model.js", "text/javascript; charset=utf-8"),
        ("/ui/css/explorer.css", "text/css; charset=utf-8"),
        ("/ui/vendor/cytoscape.esm.min.js", "text/javascript; charset=utf-8"),
        ("/ui/vendor/dagre.esm.js", "text/javascript; charset=utf-8"),
        ("/ui/vendor/cytoscape.LICENSE.txt", "text/plain; charset=utf-8"),
    ],
)
async def test_files_are_served_with_their_type_and_validators(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    if "/vendor/" in path:
        _vendored()
    answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == content_type
    assert answer.content == (STATIC / path.removeprefix("/ui/")).read_bytes()
    expected_cache = web.VENDOR_CACHE if "/vendor/" in path else web.REVALIDATE
    assert answer.headers["cache-control"] == expected_cache
    again = await client.get(path, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/ui/../pyproject.toml",
        "/ui/../../api/app.py",
        "/ui/js/../../../api/web.py",
        "/ui/js/../README.md",
        "/ui/./js/app.js",
        "/ui/js//app.js",
        "/ui/js\\app.js",
        "/ui/.gitignore",
        "/ui/README.md",
        "/ui/__init__.py",
        "/ui/",
        "/ui/js",
        "/ui/js/app.js\x00.png",
        "/ui/" + "a/" * 20 + "x.js",
        "/ui/" + "a" * 300 + ".js",
        "/ui/%2e%2e/%2e%2e/api/app.py",
    ],
)
async def test_paths_outside_the_page_or_of_other_types_are_refused(app: FastAPI, path: str) -> None:
    async with app.router.lifespan_context(app):
        status, headers, body = await raw_get(app, path)
    assert status == 404, body
    assert headers["content-type"].startswith("application/problem+json")
    assert b"open / for the page" in body


async def test_an_encoded_traversal_through_a_client_is_refused(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/ui/..%2F..%2Fapi%2Fweb.py"), 404, "not-found")
    assert_problem(await client.get("/ui/%2e%2e%2f%2e%2e%2fapi%2fweb.py"), 404, "not-found")


async def test_without_the_libraries_the_api_starts_and_the_page_says_how_to_build_them(
    app: FastAPI, tmp_path: Path
) -> None:
    unbuilt = tmp_path / "static"
    with as_file(web.static_root()) as static:
        shutil.copytree(static, unbuilt, ignore=shutil.ignore_patterns("vendor"))
    app.state.explorer = web.StaticSite(unbuilt)
    async with running(app) as client:
        page = await client.get("/")
        assert page.status_code == 503
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "make install" in page.text
        assert "npm" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/ui/js/app.js")).status_code == 200
        assert_problem(await client.get("/ui/vendor/cytoscape.esm.min.js"), 404, "not-found")


def test_the_libraries_are_git_ignored_yet_shipped_in_the_wheel(tmp_path: Path) -> None:
    hatch = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "services/provledger/web/static/vendor/**" in hatch["artifacts"]
    assert "services/provledger/web/static/vendor/" in (ROOT / ".gitignore").read_text().splitlines()
    _vendored()
    [wheel] = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    libraries = ("cytoscape.esm.min.js", "dagre.esm.js", "cytoscape.LICENSE.txt", "dagre.LICENSE.txt")
    for shipped in ("index.html", "js/app.js", "css/explorer.css", *(f"vendor/{n}" for n in libraries)):
        assert f"provledger/web/static/{shipped}" in names
