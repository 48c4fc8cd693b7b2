"""The API's one door to Postgres: an unavailable database is a 503 with Retry-After, anything else is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import httpx
import pytest
from asyncpg import exceptions as pg
from fastapi import FastAPI, Request

from provledger.api.conn import connection
from provledger.api.problems import RETRY_AFTER_S, install_handlers


class FakeConn:
    """Answers every query with the error it was given, or 1."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    async def fetchval(self, query: str) -> int:
        if self.error is not None:
            raise self.error
        return 1


class FakePool:
    """A pool whose acquire fails with ``refuse``, or lends a connection failing with ``error``."""

    def __init__(self, *, refuse: BaseException | None = None, error: BaseException | None = None) -> None:
        self.refuse = refuse
        self.error = error

    @asynccontextmanager
    async def acquire(self, timeout: float) -> AsyncIterator[FakeConn]:  # noqa: ASYNC109 - asyncpg's signature
        if self.refuse is not None:
            raise self.refuse
        yield FakeConn(self.error)


def _app(pool: FakePool) -> FastAPI:
    app = FastAPI()
    install_handlers(app)
    app.state.settings = SimpleNamespace(db_connect_timeout_s=1.0)
    app.state.pool = pool

    @app.get("/read")
    async def read(request: Request) -> dict[str, int]:
        async with connection(request) as conn:
            return {"value": await conn.fetchval("select 1")}

    return app


async def _get(pool: FakePool) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(pool), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get("/read")


@pytest.mark.parametrize(
    ("pool", "says"),
    [
        (FakePool(refuse=ConnectionRefusedError(111, "Connection refused")), "host and port"),
        (FakePool(refuse=TimeoutError()), "did not answer in time"),
        (FakePool(refuse=pg.InvalidPasswordError("password authentication failed")), "user and password"),
        (FakePool(refuse=pg.CannotConnectNowError("the database system is starting up")), "starting up"),
        (FakePool(error=pg.QueryCanceledError("canceling statement")), "statement timeout"),
        (FakePool(error=pg.ConnectionDoesNotExistError("connection was closed")), "closed the connection"),
        (FakePool(error=pg.DiskFullError("could not extend file")), "disk or memory"),
    ],
    ids=lambda v: type(v.refuse or v.error).__name__ if isinstance(v, FakePool) else "",
)
async def test_an_unavailable_database_is_503_with_what_to_do(pool: FakePool, says: str) -> None:
    response = await _get(pool)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"  # RFC 9457 section 3
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    body = response.json()
    assert body["type"] == "/problems/unavailable"
    assert body["detail"].startswith("cannot read the ledger database: ")
    assert says in body["detail"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (pg.NumericValueOutOfRangeError("integer out of range"), 400),  # a value of the request
        (pg.UndefinedTableError('relation "blocks" does not exist'), 500),  # a migration is missing
        (pg.SerializationError("could not serialize access"), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
async def test_an_error_the_query_causes_is_not_a_503(error: BaseException, status: int) -> None:
    response = await _get(FakePool(error=error))
    assert response.status_code == status
    assert "retry-after" not in response.headers


async def test_a_database_that_answers_is_read() -> None:
    response = await _get(FakePool())
    assert response.status_code == 200
    assert response.json() == {"value": 1}
