"""What an anchor kind is to the anchorer, and the registry of kinds by name.

An anchor kind takes the anchorer's signed shard-heads statement somewhere the ledger's
operator cannot rewrite (a timestamp authority, witnesses, a public chain) and brings back a
receipt that ``provledger verify`` can check offline. The anchorer (issue 17) is the consumer of
this contract; each kind lives in its own sub-package, ``provledger.anchor.<kind>``.

Most kinds answer in one exchange (:class:`AnchorKind`). A kind whose anchoring spans ticks and
must survive restarts (``evm``: a transaction is signed and stored before it is sent, then
followed until its block is final) is a :class:`StatefulAnchorKind`: it is handed the anchorer's
database and the statement's number, and says :class:`AnchorPending` until its receipt is final.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, TypeAlias, runtime_checkable

import asyncpg

from provledger.anchor import evm, rfc3161
from provledger.errors import AnchorPending
from provledger.ledger.evidence import Evidence, Receipt

__all__ = ["ANCHOR_KINDS", "AnchorKind", "AnchorPending", "AnyAnchorKind", "StatefulAnchorKind"]


class AnchorKind(Protocol):
    """One way of anchoring a statement: its name, how to publish, how to check what came back."""

    @property
    def name(self) -> str:
        """The receipt ``type`` this kind writes into evidence bundles (``rfc3161``, ``evm``, ...)."""
        ...

    async def publish(self, statement: str) -> dict[str, Any]:
        """Anchor ``statement``, the exact text of the signed note, and return the receipt's fields.

        The fields are JSON values, without ``type`` or the ``link`` the anchorer adds. A party
        that does not answer MUST raise :class:`~provledger.errors.ServiceUnavailable` (the
        anchorer retries later and the other kinds go on); an answer that does not check out
        MUST raise :class:`~provledger.errors.VerificationError` and yield no receipt.
        """
        ...

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        """Check one of this kind's receipts offline against its bundle (a ``ReceiptVerifier``).

        Returns what the receipt proves, in words ("timestamped by ... at ..."); raises
        :class:`~provledger.errors.VerificationError` saying why it does not hold. It checks what
        anchors ``receipt["statement"]``, exactly that text; the receipt's ``link`` (statement
        signed by the anchorer, naming a head that extends the bundle's block) is checked by
        :func:`provledger.ledger.evidence.verify_evidence` before it, for every kind alike.
        """
        ...


@runtime_checkable
class StatefulAnchorKind(Protocol):
    """A kind that keeps its own state in the anchorer's database between ticks and restarts."""

    @property
    def name(self) -> str:
        """The receipt ``type`` this kind writes into evidence bundles."""
        ...

    async def anchor(self, pool: asyncpg.Pool, seq: int, statement: str) -> dict[str, Any]:
        """Go on anchoring statement ``seq``; its receipt's fields once final, as :meth:`AnchorKind.publish`.

        Called every tick until it returns. Raises :class:`AnchorPending` while the anchor is on its
        way, and otherwise as :meth:`AnchorKind.publish` does.
        """
        ...

    async def in_flight(self, pool: asyncpg.Pool, up_to: int) -> list[int]:
        """Statements up to ``up_to`` this kind started and has no receipt for yet, oldest first.

        The anchorer hands them back even once newer statements exist, so a started anchor is
        finished rather than left on its way.
        """
        ...

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        """As :meth:`AnchorKind.verify`."""
        ...


#: What the anchorer is given: kinds of either shape.
AnyAnchorKind: TypeAlias = AnchorKind | StatefulAnchorKind

#: Every anchor kind, by the name of the receipts it writes, to a factory that builds it from its
#: own settings (raising ConfigurationError when they are incomplete), for the anchorer and for
#: ``provledger verify`` alike. Issue 18 adds ``tlog-witness`` and issue 21 ``evm``, one line each.
ANCHOR_KINDS: Final[Mapping[str, Callable[[], AnyAnchorKind]]] = {
    "rfc3161": rfc3161.make_kind,
    "evm": evm.make_kind,
}
