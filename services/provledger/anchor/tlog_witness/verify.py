"""Check ``tlog-witness`` receipts offline: witnesses' cosignatures on a shard checkpoint, by policy.

A receipt of kind ``tlog-witness`` (format in :mod:`provledger.ledger.witnessed`) holds the
shard's checkpoint as the sealer signed it, with the witnesses' ``cosignature/v1`` lines
appended, and the consistency proof from the bundle's block to it. Two checks make it evidence:

- the link, which :func:`~provledger.ledger.evidence.verify_evidence` runs on every receipt before
  its verifier (for this type :func:`~provledger.ledger.witnessed.link_checkpoint`): the
  checkpoint is signed by one of ``--trusted-keys``, names ``<log origin>/shard/<n>`` of the
  bundle's shard, is at least the block's size, and the proof takes the block's tree to it;
- this verifier: each cosignature line of a witness in ``--witness-policy FILE`` verifies over
  exactly that checkpoint, and they meet the policy's quorum. It answers with each witness and
  the time it cosigned (RFC 3339, UTC)::

      verifier = TlogWitnessReceiptVerifier.from_policy_text(Path("witnesses.txt").read_text())
      verifier(receipt, evidence)  # "cosigned by hospital-a at 2026-12-05T07:00:00Z, ...; quorum ..."

Trust comes only from the policy's witness keys (and the trusted keys, for the link), never
from a key inside the bundle.
"""

from __future__ import annotations

from typing import Final

from provledger.errors import VerificationError
from provledger.ledger.evidence import Evidence, Receipt
from provledger.ledger.witness_policy import WitnessPolicy, parse_witness_policy
from provledger.ledger.witnessed import RECEIPT_TYPE, WitnessReceipt, check_cosignatures

KIND: Final = RECEIPT_TYPE


class TlogWitnessReceiptVerifier:
    """A :class:`~provledger.ledger.evidence.ReceiptVerifier` of ``tlog-witness`` receipts under a policy."""

    def __init__(self, policy: WitnessPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_policy_text(cls, text: str) -> TlogWitnessReceiptVerifier:
        """The verifier of a policy file's text (ConfigurationError naming the line if malformed)."""
        return cls(parse_witness_policy(text))

    def __call__(self, receipt: Receipt, evidence: Evidence, /) -> str:
        """The policy witnesses cosigned the receipt's checkpoint and meet the quorum; who, and when."""
        return self.check(receipt)

    def check(self, receipt: Receipt) -> str:
        """The same check without a bundle (the link is the caller's), e.g. over stored receipts."""
        if receipt.type != KIND:
            raise VerificationError(f"a {receipt.type!r} receipt is not a {KIND} receipt")
        fields = WitnessReceipt.from_fields(receipt.data)
        return check_cosignatures(fields.checkpoint, self.policy).describe()
