"""The exceptions provledger raises, one hierarchy for every part.

Callers catch the narrowest class that lets them act; each message says what
failed and what to do next. Library errors (asyncpg, aiokafka) are converted at
the adapter that meets them, with ``raise ... from exc`` so the cause is kept::

    ProvledgerError
    ├── ConfigurationError   a PROVLEDGER_* setting is missing or invalid
    ├── VerificationError    a proof, signature, chain link or checkpoint does not check out
    ├── InvalidEvent         an event or record from outside cannot be accepted (dead letter / HTTP 400)
    ├── InvalidRequest       a query from outside is malformed or out of range (HTTP 400)
    ├── StaleShard           another sealer sealed this shard's next height or one of its events first
    ├── AnchorPending        an anchor kind sent a statement that is not final yet; ask again later
    └── ServiceUnavailable   a server we depend on is away or refuses us (provledger.store.unavailable)
        └── Pushback         we are overloaded on purpose; retry later (HTTP 503)
"""

from __future__ import annotations


class ProvledgerError(Exception):
    """Base class: every error provledger raises on purpose derives from it."""


class ConfigurationError(ProvledgerError):
    """A setting is missing or invalid; the message names the variable to fix."""


class VerificationError(ProvledgerError):
    """Something that must verify did not; the message says which check and why."""


class InvalidEvent(ProvledgerError):
    """Input from outside was rejected; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InvalidRequest(ProvledgerError):
    """A read request names something malformed (a node id, a cursor) or asks beyond a documented cap."""


class StaleShard(ProvledgerError):
    """Our view of a shard's head is out of date: another sealer (after a rebalance) got there first.

    The compare-and-set on the shard head refused the write, so no fork exists; the loser drops
    its unsealed batch, reloads the head from Postgres and continues from there.
    """


class AnchorPending(ProvledgerError):
    """An anchor kind sent the statement and waits for it to become final: nothing failed, ask next tick."""


class ServiceUnavailable(ProvledgerError):
    """A server provledger depends on (Postgres, Kafka) is away or refuses us.

    Waiting, or an operator fixing the server or a setting, cures it; no request does. Which
    Postgres errors those are is decided once, in :mod:`provledger.store.unavailable`.
    """


class Pushback(ServiceUnavailable):
    """provledger is shedding load on purpose; the client should retry later."""
