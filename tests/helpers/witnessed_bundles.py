"""Evidence bundles with ``tlog-witness`` receipts, for ``provledger verify`` tests.

Real events (so the event-id check passes) sealed by the sealer key into two blocks of shard 2
(tree sizes 7 and 12); the bundle is for one event of the first block, and a receipt carries the
checkpoint after the second, cosigned however the test likes, with the consistency proof from 7.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from provledger.events import Event, EventType, Job, Run, canonical_event_bytes
from provledger.ledger.checkpoint import shard_checkpoint, sign_checkpoint
from provledger.ledger.cosignature import cosign
from provledger.ledger.evidence import Receipt
from provledger.ledger.keys import SigningKey
from provledger.ledger.proofs import consistency_proof_from
from provledger.ledger.witnessed import WitnessReceipt
from tests.helpers.ledger_sealing import LOG_ORIGIN, Shard, fixed_key

SEALER = fixed_key()
#: The shard checkpoint's origin, as the witnesses know the log.
SHARD_ORIGIN = f"{LOG_ORIGIN}/shard/2"
RUN = Run("0190f3a0-0000-7000-8000-000000000002")
EVENTS = [
    Event.new(EventType.COMPLETE, job=Job("ns", "job"), run=RUN, producer="https://example.com/t")
    for _ in range(12)
]
#: The bundle's event: in block 0 (tree size 7).
LEAF = 4


def sealed() -> Shard:
    """Shard 2 with blocks of 7 and 5 real events, sealed by :data:`SEALER`."""
    shard = Shard(shard=2)
    canonical = [canonical_event_bytes(event) for event in EVENTS]
    shard.seal(canonical[:7], SEALER)
    shard.seal(canonical[7:], SEALER)
    return shard


SHARD = sealed()


def checkpoint_note() -> str:
    """The sealer-signed checkpoint of the shard after block 1 (size 12), as witnesses are sent it."""
    return sign_checkpoint(shard_checkpoint(LOG_ORIGIN, SHARD.headers[1]), [SEALER])


def witness_receipt(note: str) -> Receipt:
    """The receipt of ``note`` (the checkpoint at 12, cosignature lines appended), proven from 7."""
    proof = consistency_proof_from(lambda ids: [SHARD.nodes[i] for i in ids], 7, 12)
    return Receipt.from_json(WitnessReceipt(note, tuple(proof)).to_json())


def cosigned_receipt(*cosigners: tuple[SigningKey, int]) -> Receipt:
    """A receipt whose checkpoint ``cosigners`` (key, POSIX time) cosigned, in that order."""
    note = checkpoint_note()
    for key, at in cosigners:
        note = cosign(note, key, at)
    return witness_receipt(note)


def bundle(*receipts: Receipt) -> dict[str, Any]:
    """The evidence bundle of event :data:`LEAF` carrying ``receipts``, as JSON values."""
    evidence = replace(SHARD.evidence(LEAF, SEALER, receipts=receipts), event_id=EVENTS[LEAF].event_id)
    return evidence.to_json_obj()
