"""Which asyncpg and OS errors mean "the ledger database is unavailable", decided once.

    >>> import asyncpg
    >>> is_unavailable(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
    True
    >>> is_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    False
    >>> with unavailable_as_service_error("cannot read the ledger database"):  # doctest: +ELLIPSIS
    ...     raise ConnectionRefusedError(111, "Connection refused")
    Traceback (most recent call last):
    ...
    provledger.errors.ServiceUnavailable: cannot read the ledger database: Postgres is unreachable ...

"Unavailable" means that nothing in the request, record or query caused the error and that
waiting, or an operator fixing the server or the deployment, cures it. The sealer, the API, the
audit and ``up`` all ask :func:`is_unavailable` (or wrap their database calls in
:func:`unavailable_as_service_error`, which raises :class:`ServiceUnavailable`), so a Postgres that
is down gives the same answer everywhere. The errors, by PostgreSQL's error code appendix
(SQLSTATE classes, the first two characters) and by exception type:

* ``08`` connection exception: the connection failed or was lost, or the server rejected it.
* ``28`` invalid authorization specification: the role or its password is refused. A deployment
  error, but one no request causes and which an operator cures without a code change; the
  message names the setting to check.
* ``3D`` invalid catalog name: the database in the DSN does not exist (yet).
* ``53`` insufficient resources: disk full, out of memory, too many connections.
* ``57`` operator intervention: admin or crash shutdown (57P01, 57P02), cannot connect now while
  starting or stopping (57P03), database dropped (57P04), idle session timeout (57P05), and
  query cancelled (57014), which is the ``statement_timeout`` of an overloaded server.
* ``58`` system error: an I/O error on the server.
* ``OSError`` (``ConnectionRefusedError``, ``ConnectionResetError``, ``TimeoutError``, a DNS
  failure): the socket to the server failed, or a client-side limit passed without an answer.
* asyncpg's ``InterfaceError``: the connection was closed or the pool is closing under us.
  Not its subclasses that are also ``ValueError`` (``DataError``, a value asyncpg cannot encode,
  and ``ClientConfigurationError``, a bad connection option): retrying cannot cure those.
* :class:`ServiceUnavailable` itself, so an error already converted stays unavailable.

Deliberately not here: ``40`` (serialization failure, deadlock) says "retry this transaction",
not "the server is away", and ``3F``, ``42`` and ``55`` (a missing schema, table or privilege, a
lock not available) usually mean a query or migration is wrong. The sealer, which must never
dead-letter a good record for these, adds them to its own outage classes
(:mod:`provledger.sealer.failures`); an API read answers them as the errors they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import asyncpg

from provledger.errors import ServiceUnavailable

#: What to do, by SQLSTATE class (two characters) for every class that means "unavailable", and
#: by full SQLSTATE (five) where one code of a class needs different advice. Membership is by
#: class only: a five-character key never makes a code unavailable whose class is not listed.
_ADVICE: Final[dict[str, str]] = {
    "08": "Postgres is unreachable or closed the connection: check that it is up and the host and port "
    "in PROVLEDGER_DATABASE_URL",
    "28": "Postgres refused the role or its password: check the user and password in PROVLEDGER_DATABASE_URL",
    "3D": "the database does not exist: check its name in PROVLEDGER_DATABASE_URL, "
    "then run `provledger migrate`",
    "53": "Postgres is short of disk or memory: retry once an operator has freed some",
    "53300": "Postgres has no connection slot free: retry shortly, or raise its max_connections",
    "57": "Postgres is shutting down or ended the session: retry once it is back",
    "57014": "Postgres cancelled the query at its statement timeout; it may be overloaded: retry shortly",
    "57P03": "Postgres is starting up or shutting down: retry shortly",
    "58": "Postgres hit an I/O or system error: retry once an operator has checked the server",
}

#: SQLSTATE classes that mean "unavailable" (see the module docstring for why each is here).
UNAVAILABLE_SQLSTATE_CLASSES: Final = frozenset(key for key in _ADVICE if len(key) == 2)

_UNREACHABLE: Final = _ADVICE["08"]
_NO_ANSWER: Final = "Postgres did not answer in time; it may be overloaded or unreachable: retry shortly"


def sqlstate_class(exc: asyncpg.PostgresError) -> str:
    """The two-character SQLSTATE class of a server error ("" if the server sent none)."""
    return str(exc.sqlstate or "")[:2]


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` means the database is away or refuses us, whatever was asked of it."""
    if isinstance(exc, asyncpg.PostgresError):
        return sqlstate_class(exc) in UNAVAILABLE_SQLSTATE_CLASSES
    if isinstance(exc, asyncpg.InterfaceError):
        return not isinstance(exc, ValueError)
    return isinstance(exc, OSError | ServiceUnavailable)


def advice(exc: BaseException) -> str:
    """What is wrong and what to do, for an error :func:`is_unavailable` accepts."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(exc.sqlstate or "")
        return _ADVICE.get(state, _ADVICE.get(state[:2], _UNREACHABLE))
    if isinstance(exc, TimeoutError):
        return _NO_ANSWER
    return _UNREACHABLE


@contextmanager
def unavailable_as_service_error(failed: str) -> Iterator[None]:
    """Re-raise an unavailable-database error inside the block as :class:`ServiceUnavailable`.

    ``failed`` says what could not be done, e.g. "cannot connect to the ledger database"; the
    message adds what is wrong, what to do, and the error itself. Every other error, and a
    :class:`ServiceUnavailable` already raised, passes through unchanged.
    """
    try:
        yield
    except ServiceUnavailable:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise ServiceUnavailable(f"{failed}: {advice(exc)} ({type(exc).__name__}: {exc})") from exc
