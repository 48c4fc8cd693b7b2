"""The API's response bodies as pydantic models: they are the OpenAPI document's schemas.

Encodings follow the evidence bundle's (:mod:`provledger.ledger.evidence`): hashes, headers and
signatures in standard base64, key ids and log ids in hex, times in RFC 3339 except inside
block headers, where they stay the integer microseconds that were signed.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from provledger.ledger.evidence import EVIDENCE_FORMAT


def links(status: int = 200, **targets: tuple[str, dict[str, str]]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``links`` of a response: name -> (operationId, parameters as runtime expressions).

    SPEC: OpenAPI 3.1 section 4.8.20: a link names the operation a value of this response feeds,
    and how (``$response.body#/items/0/shard``, ``$request.path.shard``). Clients can follow them;
    schemathesis's stateful phase chains requests along them. An operation's id is its function's
    name (:func:`provledger.api.app.create_app`).
    """
    return {
        status: {
            "links": {
                name: {"operationId": operation, "parameters": parameters}
                for name, (operation, parameters) in targets.items()
            }
        }
    }


def b64(data: bytes | memoryview) -> str:
    """Standard base64, the encoding of every hash, header and signature in these bodies."""
    return base64.b64encode(bytes(data)).decode()


class Artifact(BaseModel):
    namespace: str
    name: str
    digest: str = Field(description="sha256:<hex> of the artifact's content (or of its description).")
    kind: str
    version: str | None = None


class RunRef(BaseModel):
    run_id: str
    parent_run_id: str | None = None


class JobRef(BaseModel):
    namespace: str
    name: str


class LedgerPosition(BaseModel):
    """Where a sealed event sits: its shard's log, leaf index and the block that sealed it."""

    shard: int
    leaf_index: int
    height: int = Field(description="Height of the block that sealed the event.")
    leaf_hash: str = Field(description="RFC 9162 leaf hash of the canonical bytes, base64.")


class EventOut(BaseModel):
    """A sealed event, decoded from its canonical bytes."""

    event_id: str
    event_time: datetime
    event_type: str
    producer: str
    run: RunRef
    job: JobRef
    inputs: list[Artifact]
    outputs: list[Artifact]
    attributes: dict[str, str]
    payload_digest: str | None = None
    openlineage: dict[str, Any] | None = Field(
        None, description="The original OpenLineage RunEvent, for events ingested from OpenLineage."
    )
    ledger: LedgerPosition
    evidence: str = Field(description="Path of this event's evidence bundle.")


class RunEvent(BaseModel):
    event_id: str
    event_type: str
    event_time: datetime
    shard: int
    leaf_index: int
    height: int


class RunOut(BaseModel):
    """A run and one page of its sealed events in event-time order."""

    run_id: str
    parent_run_id: str | None
    job: JobRef
    first_seen: datetime
    events: list[RunEvent]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class EvidenceEvent(BaseModel):
    event_id: str
    canonical: str = Field(description="Base64 of the canonical event bytes.")


class EvidenceBlock(BaseModel):
    """The signed header of the block that sealed the event, and its decoded fields."""

    height: int
    header: str = Field(description="Base64 of the canonical header bytes, exactly as signed.")
    signature: str = Field(description="Base64 Ed25519 signature over 'provledger/block/v1\\n' || header.")
    key_id: str
    version: int
    log_id: str
    shard: int
    prev_block_hash: str
    batch_root: str
    tree_size: int
    log_root: str
    first_offset: int
    last_offset: int
    event_count: int
    min_event_time: int
    max_event_time: int
    sealed_at: int


class EvidenceOut(BaseModel):
    """Everything ``provledger verify`` needs to prove one event offline."""

    format: Literal["provledger-evidence/v1"] = EVIDENCE_FORMAT
    event: EvidenceEvent
    shard: int
    leaf_index: int
    tree_size: int = Field(description="Size of the shard log the proof is against: the sealing block's.")
    inclusion_proof: list[str] = Field(description="RFC 9162 inclusion proof, base64 hashes.")
    block: EvidenceBlock
    checkpoint: str = Field(description="C2SP signed-note checkpoint of the shard log at tree_size.")
    receipts: list[dict[str, Any]] = Field(
        description="Anchor receipts, one per kind: {type, statement (the anchorer's signed shard-heads "
        "note), the kind's fields (rfc3161: responses, a base64 DER TimeStampResp per TSA), link: {seq, "
        "shard, height, header, signature, consistency_proof} from this block's tree to the anchored "
        "head's}; and, once a witness has cosigned a checkpoint covering this block, {type: tlog-witness, "
        "checkpoint (the smallest cosigned shard checkpoint >= tree_size, or the first after it more "
        "witnesses cosigned where one missed it: the sealer's signed note with every stored witness "
        "cosignature line appended), consistency_proof (base64 "
        "RFC 9162 proof from tree_size to the checkpoint's size, empty when equal)}."
    )
    anchored: bool = Field(
        description="Whether receipts are present. A kind's receipt never changes once present, except "
        "tlog-witness: its checkpoint gains the lines of witnesses that cosign it later, or gives way "
        "to a later one more witnesses cosigned; a kind configured later may add its own."
    )
    next_anchor_due: datetime | None = Field(
        description="For a bundle not anchored yet: when the anchorer's next statement is due (fetch the "
        "bundle again after it); null once anchored or before any statement."
    )
    keys: list[str] = Field(
        description="C2SP verifier keys of every key that signed the header, the checkpoint or a statement."
    )


class Head(BaseModel):
    """A shard's latest block."""

    height: int
    tree_size: int
    log_root: str
    block_hash: str
    sealed_at: datetime


class ShardOut(BaseModel):
    shard: int
    topic: str
    partition: int
    created_at: datetime
    head: Head | None = Field(description="The latest block; null before the first.")


class ShardPage(BaseModel):
    items: list[ShardOut]
    next_cursor: str | None


class BlockOut(EvidenceBlock):
    """A signed block header with its hash and the shard checkpoint sealed with it."""

    block_hash: str
    checkpoint: str | None = Field(description="C2SP signed-note checkpoint after this block.")


class BlockPage(BaseModel):
    items: list[BlockOut]
    next_cursor: str | None


class ConsistencyOut(BaseModel):
    """RFC 9162 consistency proof between two sizes of one shard's log."""

    shard: int
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str]


class KeyOut(BaseModel):
    """A public key, whose it is (``role``), and when it was in use.

    A sealer key signs the blocks whose ``sealed_at`` lies in [valid_from, valid_until). ``role``
    keeps the two signers apart: a bundle's block header and shard checkpoint MUST verify
    under a ``sealer`` key, its shard-heads statement under an ``anchorer`` key, never the other.
    """

    role: Literal["sealer", "anchorer"] = Field(
        description="sealer: signs blocks and shard checkpoints; anchorer: signs shard-heads statements."
    )
    key_id: str
    name: str
    public_key: str = Field(description="Base64 raw Ed25519 public key.")
    verifier_key: str = Field(description="C2SP signed-note verifier key.")
    valid_from: datetime = Field(
        description="When the sealer's key took over, or the anchorer first used it."
    )
    valid_until: datetime | None = Field(
        description="When the next key of the same role took over; null for the current key."
    )


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None


class AcceptedEvent(BaseModel):
    event_id: str = Field(description="The provledger event id assigned to the RunEvent.")
    run_id: str
    event_type: str


class IngestOut(BaseModel):
    """RunEvents the broker acknowledged; each is sealed shortly after."""

    accepted: list[AcceptedEvent]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]
