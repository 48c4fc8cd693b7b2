"""The lineage explorer page (issue 20): ``/`` the page, ``/ui/<path>`` its files, from the package.

The files come from ``importlib.resources.files("provledger.web") / "static"``, so a wheel serves
what a checkout does. Nothing here reads the ledger: the page is static and reads the ``/v1`` JSON
itself, under the same token rules as any client (public reads, or a token the user types in),
so the page and its files need no token and reveal nothing.

Defences, since a browser runs what this serves:

- A path is a list of plain names (letters, digits, ``.``, ``_``, ``-``; no leading dot, so no
  ``..`` and no hidden file) walked down from the static folder, never joined as a string or
  resolved on disk, and only files of the known types below are served: anything else is a 404.
- The page carries a strict Content-Security-Policy: scripts only from this origin (no inline
  script, no ``eval``), requests only to this origin, no frames, no plugins, no form posts; so
  data from the server, even if some of it ended up as markup, cannot run or send anything.
- ES modules are ``text/javascript`` (browsers refuse modules of another type), and the API's
  ``X-Content-Type-Options: nosniff`` (:mod:`.headers`) stops guessing.

When ``make install`` could not fetch the pinned graph libraries (no npm), ``/`` answers 503 with
a page saying how to build them; the API itself starts and serves everything else.
``create_app`` puts a :class:`StaticSite` of the package's folder in ``app.state.explorer``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Annotated, Final

from fastapi import APIRouter, Path, Request, Response

from provledger.api.problems import ProblemError

#: The explorer's files, as package data of ``provledger.web``.
STATIC_PACKAGE: Final = "provledger.web"
#: The file whose absence means the vendored libraries were not fetched.
VENDOR_SENTINEL: Final = ("vendor", "cytoscape.esm.min.js")

#: The only types served: anything else under static/ (README.md, a stray file) is a 404.
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    # SPEC: HTML Living Standard, "fetch a single module script": a module whose MIME type is not
    # a JavaScript MIME type MUST fail to load; RFC 9239 names text/javascript the one to send.
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}

#: Of the page: everything from this origin only, no inline script or style, nothing framed.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
#: The page and the project's own modules are revalidated on every load (a new release applies at
#: once); the pinned libraries change only with the lock file and may be kept a day.
REVALIDATE: Final = "no-cache"
VENDOR_CACHE: Final = "public, max-age=86400"

_SEGMENT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_SEGMENTS: Final = 8

ASSETS_ABSENT_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>provledger: explorer not built</title></head>
<body><h1>The explorer page's libraries are not installed</h1>
<p>This API is running, but the graph libraries the page needs (cytoscape and dagre, pinned in
<code>tools/web/package-lock.json</code>) were not fetched when provledger was installed.</p>
<p>Install Node.js and npm (Debian: <code>apt-get install -y nodejs npm</code>), then run
<code>make install</code> in the provledger checkout and restart the API. The JSON API under
<code>/v1</code> (see <a href="/openapi.json">/openapi.json</a>) works meanwhile.</p>
</body></html>
"""

router = APIRouter(tags=["explorer"], include_in_schema=False)


@dataclass(frozen=True)
class StaticFile:
    """One file to serve: its bytes, type and strong validator."""

    body: bytes
    content_type: str
    etag: str


def static_root() -> Traversable:
    """The static folder of the installed package (a checkout's or a wheel's)."""
    return files(STATIC_PACKAGE) / "static"


def safe_segments(path: str) -> tuple[str, ...] | None:
    """``path`` as plain names under the static folder, or ``None`` if any part is not one.

    Starlette has already percent-decoded the path, so ``%2e%2e`` arrives here as ``..`` and is
    refused like it; so are empty parts (``a//b``), backslashes, dot files and over-long paths.
    """
    parts = tuple(path.split("/"))
    if not 0 < len(parts) <= _MAX_SEGMENTS:
        return None
    if not all(_SEGMENT.fullmatch(part) for part in parts):
        return None
    return parts


class StaticSite:
    """The files under one static folder, each read once (they are small and never change)."""

    def __init__(self, root: Traversable) -> None:
        self.root = root
        self._files: dict[tuple[str, ...], StaticFile] = {}

    def get(self, parts: tuple[str, ...]) -> StaticFile | None:
        """The file at ``parts`` if it exists and is of a served type.

        Only files found are kept (the folder holds a bounded set of them); a miss is looked up
        again next time, so requests for made-up paths cannot grow the process's memory.
        """
        found = self._files.get(parts)
        if found is None:
            found = self._read(parts)
            if found is not None:
                self._files[parts] = found
        return found

    def _read(self, parts: tuple[str, ...]) -> StaticFile | None:
        suffix = "." + parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else ""
        content_type = CONTENT_TYPES.get(suffix)
        if content_type is None:
            return None
        node = self.root
        for part in parts:
            node = node / part
        if not node.is_file():
            return None
        body = node.read_bytes()
        return StaticFile(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    @property
    def vendored(self) -> bool:
        """Whether ``make install`` put the graph libraries in place."""
        return self.get(VENDOR_SENTINEL) is not None


def _site(request: Request) -> StaticSite:
    site: StaticSite = request.app.state.explorer
    return site


def _answer(request: Request, static: StaticFile, cache_control: str, **headers: str) -> Response:
    headers = {"ETag": static.etag, "Cache-Control": cache_control, **headers}
    if request.headers.get("if-none-match") == static.etag:
        return Response(status_code=304, headers=headers)
    return Response(static.body, media_type=static.content_type, headers=headers)


@router.get("/")
async def explorer_page(request: Request) -> Response:
    """The explorer page; 503 with build instructions when its libraries were not installed."""
    security = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Referrer-Policy": "no-referrer"}
    site = _site(request)
    page = site.get(("index.html",))
    if page is None or not site.vendored:
        return Response(
            ASSETS_ABSENT_PAGE,
            status_code=503,
            media_type="text/html; charset=utf-8",
            headers={**security, "Cache-Control": "no-store"},
        )
    return _answer(request, page, REVALIDATE, **security)


@router.get("/ui/{path:path}")
async def explorer_file(
    request: Request, path: Annotated[str, Path(description="A file of the page, e.g. js/app.js.")]
) -> Response:
    """One of the page's files (modules, styles, vendored libraries); 404 for anything else."""
    parts = safe_segments(path)
    static = _site(request).get(parts) if parts is not None else None
    if parts is None or static is None:
        raise ProblemError(
            404,
            "not-found",
            f"the explorer page has no file {path[:200]!r}; open / for the page",
        )
    return _answer(request, static, VENDOR_CACHE if parts[0] == "vendor" else REVALIDATE)
