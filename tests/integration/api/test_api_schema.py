"""schemathesis over the live API's OpenAPI document: no 5xx, and every answer as documented."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import schemathesis
from api_harness import api_settings, events, make_tokens, seal
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from provledger.api.server import BackgroundApi
from provledger.config import KafkaSettings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 40


def _fuzz(base_url: str, token: str) -> int:
    """Run every operation's generated cases against ``base_url``; the number of operations."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
            )

        check()
    return len(operations)


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await seal(conn, events(300), block_size=100)
    finally:
        await conn.close()
    tokens = make_tokens(tmp_path / "tokens")
    server = await asyncio.to_thread(
        BackgroundApi, api_settings(database_url, kafka_settings, tmp_path / "tokens", api_port=0)
    )
    try:
        operations = await asyncio.to_thread(_fuzz, server.url, tokens.admin)
    finally:
        await asyncio.to_thread(server.stop)
    assert operations >= 14
