"""The one answer to "is the database unavailable?", for every SQLSTATE class and error type it covers."""

from __future__ import annotations

import socket

import asyncpg
import pytest
from asyncpg import exceptions as pg

from provledger.errors import Pushback, ServiceUnavailable, StaleShard
from provledger.store.unavailable import (
    UNAVAILABLE_SQLSTATE_CLASSES,
    advice,
    is_unavailable,
    unavailable_as_service_error,
)

#: One asyncpg error per SQLSTATE class the adapter must call unavailable (PostgreSQL appendix A).
UNAVAILABLE = [
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),  # 08003
    pg.ConnectionFailureError("connection failure"),  # 08006
    pg.ConnectionRejectionError("server rejected the connection"),  # 08004
    pg.InvalidPasswordError('password authentication failed for user "ledger"'),  # 28P01
    pg.InvalidAuthorizationSpecificationError("no pg_hba.conf entry"),  # 28000
    pg.InvalidCatalogNameError('database "ledger" does not exist'),  # 3D000
    pg.TooManyConnectionsError("sorry, too many clients already"),  # 53300
    pg.DiskFullError("could not extend file"),  # 53100
    pg.OutOfMemoryError("out of memory"),  # 53200
    pg.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
    pg.CrashShutdownError("terminating connection because of crash of another server process"),  # 57P02
    pg.CannotConnectNowError("the database system is starting up"),  # 57P03
    pg.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
    pg.IdleSessionTimeoutError("terminating connection due to idle-session timeout"),  # 57P05
    pg.PostgresSystemError("system error"),  # 58000
    pg.PostgresIOError("could not read block"),  # 58030
]

#: Server errors a query, a value or a migration causes: the same request fails again.
NOT_UNAVAILABLE = [
    pg.UniqueViolationError("duplicate key value violates unique constraint"),  # 23505
    pg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),  # 22021
    pg.NumericValueOutOfRangeError("integer out of range"),  # 22003
    pg.ProgramLimitExceededError("index row size exceeds btree maximum"),  # 54000
    pg.SerializationError("could not serialize access"),  # 40001: retry the transaction, not "away"
    pg.DeadlockDetectedError("deadlock detected"),  # 40P01
    pg.UndefinedTableError('relation "blocks" does not exist'),  # 42P01: a migration is missing
    pg.InsufficientPrivilegeError("permission denied for table events"),  # 42501
    pg.PostgresSyntaxError("syntax error at or near"),  # 42601
    pg.InvalidSchemaNameError('schema "ledger" does not exist'),  # 3F000
    pg.LockNotAvailableError("could not obtain lock"),  # 55P03
    pg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),  # 25006
    pg.InternalServerError("unexpected"),  # XX000
]


def _state(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", None) or type(exc).__name__)


@pytest.mark.parametrize("exc", UNAVAILABLE, ids=_state)
def test_each_unavailable_sqlstate_class_is_unavailable(exc: asyncpg.PostgresError) -> None:
    assert is_unavailable(exc)
    assert str(exc.sqlstate)[:2] in UNAVAILABLE_SQLSTATE_CLASSES


@pytest.mark.parametrize("exc", NOT_UNAVAILABLE, ids=_state)
def test_errors_a_query_or_value_causes_are_not_unavailable(exc: asyncpg.PostgresError) -> None:
    assert not is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        OSError("network is unreachable"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        socket.gaierror(-2, "Name or service not known"),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        ServiceUnavailable("already converted"),
        Pushback("shed on purpose"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_socket_failures_timeouts_and_closed_connections_are_unavailable(exc: BaseException) -> None:
    assert is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        # What asyncpg raises for a value it cannot encode; not exported, as pg.DataError is class 22.
        pg._base.DataError("invalid input for query argument $1"),
        pg.ClientConfigurationError("sslmode is not valid"),  # a setting no wait will fix
        ValueError("a value"),
        RuntimeError("a bug"),
        StaleShard("lost the race"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_client_side_values_settings_and_bugs_are_not_unavailable(exc: BaseException) -> None:
    assert not is_unavailable(exc)


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (pg.InvalidPasswordError("password authentication failed"), "user and password"),
        (pg.InvalidCatalogNameError('database "x" does not exist'), "provledger migrate"),
        (pg.TooManyConnectionsError("too many clients"), "max_connections"),
        (pg.DiskFullError("could not extend file"), "disk or memory"),
        (pg.QueryCanceledError("canceling statement"), "statement timeout"),
        (pg.CannotConnectNowError("starting up"), "starting up"),
        (pg.AdminShutdownError("terminating"), "shutting down"),
        (pg.PostgresIOError("could not read"), "I/O"),
        (pg.ConnectionDoesNotExistError("closed"), "host and port"),
        (ConnectionRefusedError(111, "Connection refused"), "host and port"),
        (TimeoutError(), "in time"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "",
)
def test_the_advice_says_what_to_do_for_the_code(exc: BaseException, says: str) -> None:
    assert says in advice(exc)


def test_an_unavailable_error_in_the_block_becomes_service_unavailable_with_its_cause() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    failed = "cannot connect to the ledger database"
    with (
        pytest.raises(ServiceUnavailable, match=rf"^{failed}: Postgres") as caught,
        unavailable_as_service_error(failed),
    ):
        raise refused
    assert caught.value.__cause__ is refused
    assert "ConnectionRefusedError" in str(caught.value)


@pytest.mark.parametrize(
    "exc",
    [pg.UniqueViolationError("duplicate key"), RuntimeError("a bug"), Pushback("shed on purpose")],
    ids=lambda exc: type(exc).__name__,
)
def test_any_other_error_and_a_converted_one_pass_through_unchanged(exc: Exception) -> None:
    with pytest.raises(type(exc)) as caught, unavailable_as_service_error("cannot read the ledger database"):
        raise exc
    assert caught.value is exc
