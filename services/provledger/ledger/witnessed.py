"""Witnessed shard checkpoints: the ``tlog-witness`` receipt, its link to a bundle's block, its quorum.

A ``tlog-witness`` receipt vouches for the shard's log itself, not for the anchorer's statement::

    {"type": "tlog-witness",
     "checkpoint": "<the shard's C2SP checkpoint, signed by the sealer key, cosignature lines appended>",
     "consistency_proof": ["<base64 hash>", ...]}

Its checkpoint's size is at least the bundle header's ``tree_size``, and ``consistency_proof`` is
the RFC 9162 consistency proof from the header's ``(tree_size, log_root)`` to the checkpoint's
size and root (empty when the sizes are equal). Two checks make it evidence, split as for every
receipt kind (:mod:`provledger.ledger.evidence`):

- :func:`link_checkpoint`, the *link*: the checkpoint is signed by a trusted log key, names the
  bundle's shard, and its tree extends the block's. ``verify_evidence`` runs it itself, with the
  caller's trusted keys and origin, so no verifier can skip it.
- :func:`check_cosignatures`, the *anchor*: the cosignature lines of the user's policy witnesses
  verify over exactly this checkpoint and meet the policy's quorum.

SPEC: C2SP tlog-cosignature: "Clients are configured with tuples of (cosigner name, public key,
supported cosignature version) and based on that they can compute the expected name and key ID,
and ignore any signature lines that don't match the name and key ID." SPEC: C2SP signed-note:
"Verifiers MUST ignore signatures from unknown keys [...] If a signature from a known key fails
to verify, clients SHOULD reject the whole note." So a stranger's line is ignored, and a policy
witness's line that does not verify over this checkpoint fails the receipt.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from provledger.errors import VerificationError
from provledger.ledger.block import BlockHeader
from provledger.ledger.checkpoint import Checkpoint
from provledger.ledger.cosignature import cosignature_timestamp
from provledger.ledger.keys import KeySet, b64decode_strict
from provledger.ledger.merkle import verify_consistency
from provledger.ledger.note import open_note, parse_note
from provledger.ledger.witness_policy import PolicyWitness, QuorumOutcome, WitnessPolicy

#: The receipt ``type`` of cosigned shard checkpoints in evidence bundles.
RECEIPT_TYPE: Final = "tlog-witness"
#: A consistency proof between trees of fewer than 2^64 leaves has at most 64 hashes (the
#: tlog-witness protocol allows 63 lines); a longer list is refused before it is decoded.
MAX_PROOF_HASHES: Final = 64
#: A shard checkpoint with 100 signature lines (the note parser's bound) is under 20 KiB.
MAX_CHECKPOINT_CHARS: Final = 64 << 10


def rfc3339(timestamp: int) -> str:
    """A POSIX time as RFC 3339 UTC (``2026-12-05T07:00:00Z``); VerificationError past year 9999."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError) as exc:
        raise VerificationError(f"cosignature time {timestamp} is not a date (beyond year 9999)") from exc


@dataclass(frozen=True, slots=True)
class WitnessReceipt:
    """A ``tlog-witness`` receipt's own fields, read strictly."""

    checkpoint: str
    consistency_proof: tuple[bytes, ...]

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> WitnessReceipt:
        """A string ``checkpoint`` (bounded) and a list of at most 64 canonical base64 hashes."""
        checkpoint, proof = data.get("checkpoint"), data.get("consistency_proof")
        if not isinstance(checkpoint, str) or not isinstance(proof, list):
            raise VerificationError(
                "not a tlog-witness receipt with a string 'checkpoint' and a list 'consistency_proof'"
            )
        if len(checkpoint) > MAX_CHECKPOINT_CHARS:
            raise VerificationError(
                f"tlog-witness checkpoint has {len(checkpoint)} characters, more than {MAX_CHECKPOINT_CHARS}"
            )
        if len(proof) > MAX_PROOF_HASHES:
            raise VerificationError(
                f"tlog-witness consistency_proof has {len(proof)} hashes, more than {MAX_PROOF_HASHES}"
            )
        if not all(isinstance(text, str) for text in proof):
            raise VerificationError("tlog-witness consistency_proof has a non-string entry")
        hashes = tuple(b64decode_strict(text, "tlog-witness consistency_proof entry") for text in proof)
        return cls(checkpoint, hashes)

    def to_json(self) -> dict[str, Any]:
        """The receipt object, ``type`` included, as bundles carry it."""
        return {
            "type": RECEIPT_TYPE,
            "checkpoint": self.checkpoint,
            "consistency_proof": [base64.b64encode(h).decode() for h in self.consistency_proof],
        }


@dataclass(frozen=True, slots=True)
class LinkedCheckpoint:
    """A shard checkpoint proven to extend a block's tree, signed by a trusted key."""

    checkpoint: Checkpoint
    signers: tuple[str, ...]
    block_tree_size: int

    def describe(self) -> str:
        """What the link established, in words."""
        return (
            f"checkpoint {self.checkpoint.origin} at size {self.checkpoint.size} is signed by "
            f"{', '.join(self.signers)} and extends the block's tree of size {self.block_tree_size}"
        )


def link_checkpoint(
    receipt: WitnessReceipt, header: BlockHeader, trusted_keys: KeySet, origin: str
) -> LinkedCheckpoint:
    """Check that the receipt's checkpoint is the shard's log, grown from the block's tree.

    The note MUST carry a signature by a trusted key (cosignature lines are other keys and are
    ignored here); its origin MUST be ``origin`` (``<log origin>/shard/<n>``); its size MUST be
    at least the header's ``tree_size``; and the consistency proof MUST take the header's
    ``(tree_size, log_root)`` to its size and root (SPEC: RFC 9162 2.1.4.2).
    """
    opened = open_note(receipt.checkpoint, trusted_keys.verifiers())
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != origin:
        raise VerificationError(
            f"witnessed checkpoint origin {checkpoint.origin!r} is not {origin!r}, the bundle's shard"
        )
    if checkpoint.size < header.tree_size:
        raise VerificationError(
            f"witnessed checkpoint size {checkpoint.size} is smaller than the block's tree size "
            f"{header.tree_size}: it cannot vouch for this block"
        )
    try:
        verify_consistency(
            header.tree_size, checkpoint.size, header.log_root, checkpoint.root, receipt.consistency_proof
        )
    except VerificationError as exc:
        raise VerificationError(
            f"the witnessed checkpoint does not extend the block's tree "
            f"(size {header.tree_size} to {checkpoint.size}): {exc}"
        ) from exc
    signers = tuple(dict.fromkeys(signature.name for signature in opened.verified))
    return LinkedCheckpoint(checkpoint, signers, header.tree_size)


@dataclass(frozen=True, slots=True)
class Cosigned:
    """One policy witness's verified cosignature, and the time it states."""

    witness: PolicyWitness
    timestamp: int

    def describe(self) -> str:
        """``<witness> at <RFC 3339 time>``."""
        return f"{self.witness.describe()} at {rfc3339(self.timestamp)}"


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    """The policy witnesses whose cosignatures verified over a checkpoint, and the quorum they meet."""

    cosignatures: tuple[Cosigned, ...]
    quorum: QuorumOutcome

    def describe(self) -> str:
        """``cosigned by <witness> at <time>, ...; quorum '<name>' met: ...``."""
        cosigned = ", ".join(c.describe() for c in self.cosignatures)
        return f"cosigned by {cosigned}; {self.quorum.detail}"


def check_cosignatures(signed_checkpoint: str, policy: WitnessPolicy) -> WitnessedCheckpoint:
    """The policy witnesses' cosignatures over exactly this note's text, and the quorum they meet.

    Lines of keys the policy does not know are ignored; a policy witness's line that does not
    verify fails the whole check, as does an unmet quorum. When the policy lists logs, one of
    them MUST also have signed the note. A witness that cosigned twice counts once, at its
    earliest time (when it first saw this checkpoint).
    """
    note = parse_note(signed_checkpoint)
    if policy.logs:
        open_note(signed_checkpoint, policy.logs)
    message = note.text.encode()
    earliest: dict[str, Cosigned] = {}
    for line in note.signatures:
        witness = policy.witness_for(line.name, line.key_id)
        if witness is None:
            continue
        if not witness.verifier.verify(message, line.signature):
            raise VerificationError(
                f"the cosignature of witness {witness.describe()} does not verify over this checkpoint "
                "(it cosigned another checkpoint, or the line was altered)"
            )
        cosigned = Cosigned(witness, cosignature_timestamp(line.signature))
        rfc3339(cosigned.timestamp)  # a verified time that is no date fails here, not in the report
        if witness.name not in earliest or cosigned.timestamp < earliest[witness.name].timestamp:
            earliest[witness.name] = cosigned
    outcome = policy.evaluate(set(earliest))
    if not outcome.met:
        raise VerificationError(
            f"{outcome.detail}: fetch the bundle again once more witnesses have cosigned, "
            "or check the witness keys in the policy"
        )
    ordered = tuple(sorted(earliest.values(), key=lambda c: (c.timestamp, c.witness.name)))
    return WitnessedCheckpoint(ordered, outcome)
