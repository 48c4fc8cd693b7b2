"""Which keys the audit trusted, and every key the database records that the operator does not.

The database's ``signing_keys`` and ``anchorer_keys`` tables are the audited party's own word:
whoever can write them (the API's credentials, before issue 19's logins) can swap in a key of
their own, re-sign every block and checkpoint with it, and an audit that trusts those tables
passes. So with ``--trusted-keys`` the audit checks every signature against the operator's
keys alone and names each key the tables hold that is not among them (``key_untrusted``, a
mismatch: exit 1), since a key nobody trusts has no business in the ledger's key tables.
Without it the report says plainly that the database's own keys were trusted, which proves
only that the rows hold together.

``--trusted-keys`` stays optional, a decision: ``make run``, ``provledger up``'s health checks
and a first look at a fresh ledger have no key file to give, and a mandatory flag there would be
answered with the database's own keys exported to a file, which is the same trust with more
steps. The report's wording, in text and in ``--json`` (``keys.trusted_from``), keeps the
difference visible instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from provledger.errors import VerificationError
from provledger.ledger.keys import KeySet, VerifierKey
from provledger.store import audit_reads
from provledger.store.db import Conn

#: The key tables the audit compares with the operator's keys, in report order.
KEY_TABLES: Final = ("signing_keys", "anchorer_keys")

#: What the text report says when no key file was given.
DATABASE_TRUSTED: Final = (
    "keys: no --trusted-keys given, so the database's own signing_keys and anchorer_keys were "
    "trusted: whoever can write the database can swap in a key and re-sign every block, and this "
    "audit would still pass. Give --trusted-keys FILE with the sealer's and anchorer's keys you hold."
)


@dataclass(frozen=True, slots=True)
class UntrustedKey:
    """A key row the operator's keys do not include: its table, the row's text and why."""

    table: str
    key: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "key_untrusted", "table": self.table, "key": self.key, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class KeyTrustReport:
    """Where the audit's keys came from and, for the operator's, every database key outside them."""

    trusted_from: Literal["user", "database"]
    trusted: int
    untrusted: tuple[UntrustedKey, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.untrusted

    def to_json(self) -> dict[str, Any]:
        return {
            "trusted_from": self.trusted_from,
            "trusted_keys": self.trusted,
            "untrusted": [key.to_json() for key in self.untrusted],
        }


def untrusted_rows(table: str, rows: list[str], trusted: KeySet) -> list[UntrustedKey]:
    """The rows of ``table`` whose key (name and public key) is not one of ``trusted``."""
    known = {(key.name, key.public_key) for key in trusted.verifiers()}
    found = []
    for text in rows:
        try:
            key = VerifierKey.parse(text)
        except (ValueError, VerificationError) as exc:
            found.append(UntrustedKey(table, text, f"not a verifier key: {exc}"))
            continue
        if (key.name, key.public_key) not in known:
            found.append(
                UntrustedKey(
                    table, text, f"key {key.name!r} (id {key.key_id.hex()}) is not in --trusted-keys"
                )
            )
    return found


async def audit_key_tables(conn: Conn, trusted: KeySet | None) -> KeyTrustReport:
    """Compare the database's key tables with ``trusted`` (None: say the database's were trusted)."""
    if trusted is None:
        return KeyTrustReport("database", 0)
    found: list[UntrustedKey] = []
    for table in KEY_TABLES:
        if not await audit_reads.has_table(conn, table):
            continue
        rows = await (audit_reads.signing_keys if table == "signing_keys" else audit_reads.anchorer_keys)(
            conn
        )
        found += untrusted_rows(table, rows, trusted)
    return KeyTrustReport("user", len(trusted.verifiers()), tuple(found))
