"""Fixtures shared by every test: real servers, started once per session, and isolation per test.

Servers come from, in order: ``PROVLEDGER_DATABASE_URL`` / ``PROVLEDGER_KAFKA_BOOTSTRAP``;
testcontainers where a Docker engine answers; else the embedded Postgres and Tansu broker.
``PROVLEDGER_LOCAL_SERVERS=embedded`` skips the Docker check. Each test gets its own freshly
migrated database and its own topic names, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from provledger.config import KafkaSettings, load
from provledger.local import LocalServers, local_servers
from provledger.local.probes import run_blocking
from provledger.store.migrate import migrate_database
from tests.helpers.browser import browser, browser_context, page  # noqa: F401  (fixtures)

MARKERS = {
    "integration": "needs the real Postgres and Kafka servers from the session fixtures",
    "e2e": "runs the whole stack with real clients",
    "slow": "takes more than a few seconds",
    "docker": "needs a Docker engine (testcontainers); skipped with the reason where none answers",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder, so `-m "not integration"` selects the fast pure suite."""
    for item in items:
        for folder in ("integration", "e2e"):
            if f"/tests/{folder}/" in str(item.path):
                item.add_marker(folder)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServers]:
    """The session's Postgres and Kafka, stopped when the session ends (also on failure)."""
    mode = os.environ.get("PROVLEDGER_LOCAL_SERVERS", "auto")
    if mode not in ("auto", "containers", "embedded"):
        raise pytest.UsageError("PROVLEDGER_LOCAL_SERVERS must be auto, containers or embedded")
    with local_servers(
        data_dir=tmp_path_factory.mktemp("servers"),
        database_url=os.environ.get("PROVLEDGER_DATABASE_URL"),
        kafka_bootstrap=os.environ.get("PROVLEDGER_KAFKA_BOOTSTRAP"),
        mode=mode,  # type: ignore[arg-type]
        durable=False,
    ) as running:
        yield running


@pytest.fixture(scope="session")
def kafka_bootstrap(servers: LocalServers) -> str:
    """host:port of the session's real broker."""
    return servers.kafka_bootstrap


@pytest.fixture(scope="session")
def admin_database_url(servers: LocalServers) -> str:
    """DSN of the session's server with rights to create databases and roles."""
    return servers.database_url


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture
def database_url(admin_database_url: str) -> Iterator[str]:
    """A freshly created and migrated database for this test alone, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_blocking(lambda: admin(f'CREATE DATABASE "{name}"'))
    dsn = _with_database(admin_database_url, name)
    run_blocking(lambda: migrate_database(dsn))
    yield dsn
    run_blocking(lambda: admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Kafka settings naming the session broker and topics no other test uses."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    return load(
        KafkaSettings,
        kafka_bootstrap=kafka_bootstrap,
        topic_events=f"{prefix}.provledger.events",
        topic_openlineage=f"{prefix}.provledger.openlineage",
        topic_dead_letter=f"{prefix}.provledger.dead-letter",
        topic_checkpoints=f"{prefix}.provledger.checkpoints",
    )
