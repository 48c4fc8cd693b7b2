"""Fixtures of the anchor tests: real local TSAs, started once per session, and hostile TSAs.

``local_tsa_server`` is the TSA the anchorer trusts (its CA is ``local_tsa_server.roots_file``);
``stranger_tsa_server`` is a second real TSA under a CA nobody trusts. ``hostile_tsa`` starts an
aiohttp server with a handler of the test's choosing (garbage, 5xx, slow, huge answers), for the
faults a real TSA cannot be made to commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from provledger.local.tsa import LocalTsa, local_tsa

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture(scope="session")
def local_tsa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    """A running local TSA (``openssl ts -reply`` over HTTP), stopped when the session ends."""
    directory = tmp_path_factory.mktemp("local-tsa")
    with local_tsa(directory / "tsa", directory / "tsa.log", "provledger test") as tsa:
        yield tsa


@pytest.fixture(scope="session")
def stranger_tsa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    """A second real TSA under its own CA, which is in no roots file unless a test puts it there."""
    directory = tmp_path_factory.mktemp("stranger-tsa")
    with local_tsa(directory / "tsa", directory / "tsa.log", "stranger") as tsa:
        yield tsa


@pytest.fixture
async def hostile_tsa() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start servers answering ``POST /`` with a given handler; yields a function returning the URL."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/"))

    yield start
    for server in servers:
        await server.close()
