"""Fixtures of the integration tests beyond the session's servers (those are in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from tests.helpers.sealed_ledger import connected


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's own database, closed however the test ends."""
    async with connected(database_url) as connection:
        yield connection
