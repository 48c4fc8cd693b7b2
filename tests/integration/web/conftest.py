"""Fixtures of the page's integration tests: a real RFC 3161 token over the anchorer's statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.helpers.tampered_bundles import anchored_statement

from provledger.anchor.rfc3161.client import TsaClient
from provledger.anchor.rfc3161.verify import load_roots
from provledger.local.tsa import local_tsa


@dataclass(frozen=True)
class Stamped:
    """The roots of a real TSA and its token over the anchorer's statement."""

    roots_file: Path
    token: bytes


@pytest.fixture(scope="session")
async def stamped(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stamped]:
    """A token from a real local TSA (``openssl ts`` behind HTTP), checked as the anchorer checks it."""
    directory = tmp_path_factory.mktemp("js-verifier-tsa")
    with local_tsa(directory / "tsa", directory / "tsa.log", "js verifier test") as server:
        client = TsaClient(server.url, load_roots(server.roots_file), 30.0)
        async with httpx.AsyncClient() as http:
            token = await client.timestamp(anchored_statement(), http)
        yield Stamped(server.roots_file, token)
