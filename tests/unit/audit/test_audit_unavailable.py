"""A database lost mid-audit ends the audit as ServiceUnavailable, not as a raw asyncpg error."""

from __future__ import annotations

from types import TracebackType
from typing import Any, cast

import pytest
from asyncpg import exceptions as pg

from provledger.audit import audit_ledger
from provledger.errors import ServiceUnavailable


class LostTransaction:
    """A transaction whose start finds the connection gone."""

    async def __aenter__(self) -> None:
        raise pg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class LostConn:
    def transaction(self, **options: Any) -> LostTransaction:
        return LostTransaction()


async def test_a_connection_lost_mid_audit_is_service_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match="cannot finish auditing the ledger database") as caught:
        await audit_ledger(cast(Any, LostConn()))
    assert isinstance(caught.value.__cause__, pg.ConnectionDoesNotExistError)
