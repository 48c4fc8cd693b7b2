"""What the API gives away to anyone: bounded metrics, readiness without addresses, safe headers.

Issue 19's findings, each tried as an outsider would: made-up HTTP methods must not grow the
metrics, ``/readyz`` without a token must not name servers, authenticated JSON must not be
cached, and ``/docs`` (which loads swagger-ui from a CDN) is off unless an operator turns it on.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.api_harness import api_settings, assert_problem, client_for, make_tokens

from provledger.config import KafkaSettings
from provledger.local.process import free_port


async def test_made_up_methods_share_one_metric_series(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    async with client_for(settings, tokens.admin) as client:
        for n in range(50):
            await client.request(f"X-MADE-UP-{n}", "/healthz")
        metrics = (await client.get("/metrics")).text
    assert "X-MADE-UP" not in metrics
    counts = "provledger_api_request_seconds_count"
    series = [line for line in metrics.splitlines() if line.startswith(counts)]
    assert any('method="other"' in line and "} 50.0" in line for line in series), series


async def test_readiness_names_no_address_without_an_admin_token(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    broker = f"127.0.0.1:{free_port()}"  # nothing listens there
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens").model_copy(
        update={"kafka_bootstrap": broker}
    )
    async with client_for(settings) as anyone:
        hidden = assert_problem(await anyone.get("/readyz"), 503, "unavailable")["detail"]
    async with client_for(settings, tokens.read) as reader:
        also_hidden = assert_problem(await reader.get("/readyz"), 503, "unavailable")["detail"]
    async with client_for(settings, tokens.admin) as operator:
        shown = assert_problem(await operator.get("/readyz"), 503, "unavailable")["detail"]
    for detail in (hidden, also_hidden):
        assert "the Kafka broker does not answer" in detail
        assert broker not in detail
        assert "127.0.0.1" not in detail
        assert "admin token" in detail
    assert broker in shown


async def test_authenticated_json_is_not_cached_and_nothing_is_sniffed(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    tokens = make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    async with client_for(settings, tokens.read) as client:
        shards = await client.get("/v1/shards")
        missing = await client.get("/v1/shards/7")
        health = await client.get("/healthz")
    for response in (shards, missing):
        assert response.headers["cache-control"] == "no-store", response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
    assert health.headers["x-content-type-options"] == "nosniff"
    async with client_for(settings) as anonymous:
        public = await anonymous.get("/healthz")
    assert "cache-control" not in public.headers  # nothing private in it: no credentials were sent


async def test_docs_are_off_unless_turned_on(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    make_tokens(tmp_path / "tokens")
    settings = api_settings(database_url, kafka_settings, tmp_path / "tokens")
    async with client_for(settings) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200
    async with client_for(settings.model_copy(update={"api_docs": True})) as client:
        docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
