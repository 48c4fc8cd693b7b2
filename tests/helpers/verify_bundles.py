"""Evidence bundles sealed by the real sealer core, for ``provledger verify`` tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provledger.events import Event, canonical_event_bytes
from provledger.events.rows import EventRow, ShardState
from provledger.ledger.evidence import Evidence
from provledger.ledger.keys import SigningKey
from provledger.ledger.merkle import inclusion_proof, leaf_hash
from provledger.sealer.shardlog import ShardLog

#: 2026-11-24T00:00:00Z in microseconds: when the helper's blocks are sealed.
SEALED_AT = 1_795_478_400_000_000


def sealed_bundle(
    events: Sequence[Event], key: SigningKey, origin: str, leaf: int, sealed_at: int = SEALED_AT
) -> dict[str, Any]:
    """JSON evidence for ``events[leaf]``: one block of shard 2 of the log ``origin``, signed by ``key``."""
    log = ShardLog(ShardState(2, 0, bytes(32), 0, 0, (), ()), origin)
    canonical = [canonical_event_bytes(event) for event in events]
    accepted = [
        EventRow(
            e.event_id,
            c,
            leaf_hash(c),
            sealed_at - 10,
            e.event_type.value,
            e.run.run_id,
            None,
            e.job.namespace,
            e.job.name,
            (),
            (),
            i,
        )
        for i, (e, c) in enumerate(zip(events, canonical, strict=True))
    ]
    block = log.seal(accepted, 0, len(events) - 1, key, sealed_at)
    evidence = Evidence(
        event_id=events[leaf].event_id,
        canonical_event=canonical[leaf],
        shard=2,
        leaf_index=leaf,
        tree_size=block.header.tree_size,
        inclusion_proof=tuple(inclusion_proof([leaf_hash(c) for c in canonical], leaf)),
        header=block.header,
        header_signature=block.signature,
        checkpoint=block.checkpoint,
        keys=(key.verifier.verifier_key_string(),),
    )
    return evidence.to_json_obj()
