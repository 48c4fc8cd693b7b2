"""The ``rfc3161`` anchor kind: RFC 3161 timestamps over the anchorer's signed statement.

Every statement is sent to each TSA in ``PROVLEDGER_TSA_URLS``; the receipt holds one token from
each (format in :mod:`provledger.anchor.rfc3161.verify`), checked against
``PROVLEDGER_TSA_ROOTS_FILE`` before it is returned. Offline, ``provledger verify --tsa-roots FILE``
checks the same tokens against the user's own roots::

    kind = make_kind()                       # the anchorer: settings from PROVLEDGER_TSA_*
    fields = await kind.publish(statement)   # {"statement": ..., "responses": [...]}
    verifier = Rfc3161ReceiptVerifier.from_roots_file(Path("tsa-roots.pem"))  # provledger verify
    print(verifier(Receipt("rfc3161", fields), evidence))  # timestamped by CN=... at 2026-...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography import x509

from provledger.anchor.rfc3161.client import TsaClient, timestamp_all
from provledger.anchor.rfc3161.settings import Rfc3161Settings
from provledger.anchor.rfc3161.verify import KIND, Rfc3161Receipt, Rfc3161ReceiptVerifier, load_roots
from provledger.config import load
from provledger.ledger.evidence import Evidence, Receipt

__all__ = ["Rfc3161Kind", "Rfc3161ReceiptVerifier", "Rfc3161Settings", "make_kind"]


class Rfc3161Kind:
    """An :class:`~provledger.anchor.kinds.AnchorKind`: asks every TSA in ``urls``, trusts ``roots`` alone."""

    def __init__(self, urls: Sequence[str], roots: Sequence[x509.Certificate], timeout_s: float) -> None:
        self.verifier = Rfc3161ReceiptVerifier(roots)
        self.clients = tuple(TsaClient(url, self.verifier.roots, timeout_s) for url in urls)

    @property
    def name(self) -> str:
        """``rfc3161``, the receipt type."""
        return KIND

    async def publish(self, statement: str) -> dict[str, Any]:
        """``{"statement": ..., "responses": [...]}`` with a checked token from every TSA, in URL order."""
        return Rfc3161Receipt(statement, await timestamp_all(self.clients, statement)).to_json()

    def verify(self, receipt: Receipt, evidence: Evidence, /) -> str:
        """Every token of ``receipt`` verifies over its statement under the anchorer's roots."""
        return self.verifier(receipt, evidence)


def make_kind(**overrides: Any) -> Rfc3161Kind:
    """The kind from ``PROVLEDGER_TSA_*`` (``overrides`` by field name); fails closed without URLs, roots."""
    settings = load(Rfc3161Settings, **overrides)
    urls = settings.require_urls()
    return Rfc3161Kind(urls, load_roots(settings.require_roots_file()), settings.tsa_timeout_s)
