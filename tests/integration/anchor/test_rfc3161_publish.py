"""The rfc3161 kind against real local TSAs: receipts that verify offline, one token per TSA, roots only."""

from __future__ import annotations

from pathlib import Path

import pytest

from provledger.anchor.kinds import ANCHOR_KINDS
from provledger.anchor.rfc3161 import Rfc3161Kind, Rfc3161ReceiptVerifier, make_kind
from provledger.errors import VerificationError
from provledger.ledger.evidence import Receipt
from provledger.local.tsa import LocalTsa

STATEMENT = (
    "provledger.local/ledger/anchors\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— anchorer q1w2\n"
)


async def test_a_published_receipt_verifies_offline_under_the_users_roots(
    local_tsa_server: LocalTsa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVLEDGER_TSA_URLS", local_tsa_server.url)
    monkeypatch.setenv("PROVLEDGER_TSA_ROOTS_FILE", str(local_tsa_server.roots_file))
    kind = ANCHOR_KINDS["rfc3161"]()
    assert isinstance(kind, Rfc3161Kind)  # a one-exchange kind, not a stateful one like evm
    fields = await kind.publish(STATEMENT)
    assert set(fields) == {"statement", "responses"}
    assert fields["statement"] == STATEMENT
    receipt = Receipt.from_json({"type": kind.name, **fields, "link": {}})
    verifier = Rfc3161ReceiptVerifier.from_roots_file(local_tsa_server.roots_file)
    assert verifier.check(receipt).startswith("timestamped by CN=provledger test TSA at 20")
    # The kind's own verify (the anchorer's roots) agrees; the bundle plays no part in the token check.
    assert kind.verify(receipt, None) == verifier.check(receipt)  # type: ignore[arg-type]


async def test_every_tsa_gives_one_token_in_the_receipt(
    local_tsa_server: LocalTsa, stranger_tsa_server: LocalTsa, tmp_path: Path
) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_bytes(local_tsa_server.roots_file.read_bytes() + stranger_tsa_server.roots_file.read_bytes())
    kind = make_kind(tsa_urls=f"{local_tsa_server.url},{stranger_tsa_server.url}", tsa_roots_file=roots)
    fields = await kind.publish(STATEMENT)
    assert len(fields["responses"]) == 2
    detail = Rfc3161ReceiptVerifier.from_roots_file(roots).check(Receipt("rfc3161", fields))
    first, second = detail.split("; ")
    assert first.startswith("timestamped by CN=provledger test TSA at ")
    assert second.startswith("timestamped by CN=stranger TSA at ")
    # A user who trusts only one of the two TSAs does not accept the receipt.
    with pytest.raises(VerificationError, match="unable to get local issuer certificate"):
        Rfc3161ReceiptVerifier.from_roots_file(local_tsa_server.roots_file).check(Receipt("rfc3161", fields))


async def test_a_tsa_whose_ca_is_not_in_the_roots_yields_no_receipt(
    local_tsa_server: LocalTsa, stranger_tsa_server: LocalTsa
) -> None:
    kind = make_kind(
        tsa_urls=f"{local_tsa_server.url},{stranger_tsa_server.url}",
        tsa_roots_file=local_tsa_server.roots_file,
    )
    with pytest.raises(VerificationError, match=f"TSA {stranger_tsa_server.url}: .*local issuer"):
        await kind.publish(STATEMENT)
