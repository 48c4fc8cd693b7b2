"""Events, runs and evidence bundles: ``/v1/events/{event_id}``, ``/v1/runs/{run_id}``, ``.../evidence``.

The evidence bundle (ARCHITECTURE.md section 5, format ``provledger-evidence/v1``) proves the
event against the block that sealed it: ``tree_size`` is that block's, the inclusion proof is
against its ``log_root`` and the checkpoint is the shard checkpoint sealed with that block, which
is what :func:`provledger.ledger.evidence.verify_evidence` checks (the leaf must lie in the block).
Anchor receipts link the block to the anchorer's statements (:mod:`provledger.api.bundle_anchors`);
until one does, the bundle says ``"anchored": false`` and when the next statement is due. Once a
kind's receipt is there it stays the same; only the ``tlog-witness`` receipt may still change, by
gaining the lines of witnesses that cosign later (or moving to a checkpoint more of them cosigned),
so a bundle fetched again satisfies a stricter witness policy, never a weaker one.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from provledger.api import models
from provledger.api.auth import read_access
from provledger.api.bundle_anchors import bundle_anchors
from provledger.api.conn import connection
from provledger.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    moment,
    uuid_key,
)
from provledger.api.problems import ProblemError, responses
from provledger.events.canonical import decode_canonical
from provledger.events.native_json import event_to_json
from provledger.ledger.block import BlockHeader
from provledger.ledger.evidence import Evidence
from provledger.ledger.keys import VerifierKey
from provledger.ledger.note import parse_note
from provledger.store import reads
from provledger.store.tiles import inclusion_proof

router = APIRouter(tags=["events"], dependencies=[Depends(read_access)], responses=responses(401, 403, 503))

EventId = Annotated[uuid.UUID, Path(description="The event's UUIDv7.")]
RunId = Annotated[
    str, Path(min_length=1, max_length=256, pattern=r"^[^\x00]+$", description="The run's id (a UUID).")
]


def _not_sealed(event_id: uuid.UUID) -> ProblemError:
    return ProblemError(
        404,
        "event-not-found",
        f"no sealed event has id {event_id}: check the id, or retry in a few seconds if it was just "
        "emitted (events become visible once a block seals them)",
    )


@router.get(
    "/v1/events/{event_id}",
    response_model=models.EventOut,
    responses={
        **responses(404, 422),
        **models.links(
            GetEvidence=("get_evidence", {"event_id": "$request.path.event_id"}),
            GetRun=("get_run", {"run_id": "$response.body#/run/run_id"}),
            GetBlock=(
                "get_block",
                {"shard": "$response.body#/ledger/shard", "height": "$response.body#/ledger/height"},
            ),
        ),
    },
)
async def get_event(request: Request, event_id: EventId) -> models.EventOut:
    """A sealed event: its decoded content and where it sits in the ledger."""
    async with connection(request) as conn:
        stored = await reads.event(conn, event_id)
    if stored is None:
        raise _not_sealed(event_id)
    document = event_to_json(decode_canonical(stored.canonical))
    document["run"].setdefault("parent_run_id", None)
    return models.EventOut(
        **document,
        ledger=models.LedgerPosition(
            shard=stored.shard,
            leaf_index=stored.leaf_index,
            height=stored.height,
            leaf_hash=models.b64(stored.leaf_hash),
        ),
        evidence=f"/v1/events/{event_id}/evidence",
    )


@router.get(
    "/v1/runs/{run_id}",
    response_model=models.RunOut,
    responses={
        **responses(400, 404, 422),
        **models.links(
            GetEvent=("get_event", {"event_id": "$response.body#/events/0/event_id"}),
            GetEvidence=("get_evidence", {"event_id": "$response.body#/events/0/event_id"}),
            RunLineage=("run_lineage", {"run_id": "$request.path.run_id"}),
            NextPage=("get_run", {"run_id": "$request.path.run_id", "cursor": "$response.body#/next_cursor"}),
        ),
    },
)
async def get_run(
    request: Request, run_id: RunId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> models.RunOut:
    """A run and its sealed events with their event ids, in event-time order (paginated)."""
    after = None if cursor is None else decode_cursor(cursor, (moment, uuid_key))
    async with connection(request) as conn:
        run = await reads.run(conn, run_id)
        if run is None:
            raise ProblemError(
                404,
                "run-not-found",
                f"no sealed event belongs to run {run_id!r}: check the id (OpenLineage runId), or retry "
                "shortly if its first event was just emitted",
            )
        page = await reads.run_events(conn, run_id, after, limit)
    last = page[-1] if len(page) == limit else None
    return models.RunOut(
        run_id=run.run_id,
        parent_run_id=run.parent_run_id,
        job=models.JobRef(namespace=run.job_namespace, name=run.job_name),
        first_seen=run.first_seen,
        events=[
            models.RunEvent(
                event_id=str(e.event_id),
                event_type=e.event_type,
                event_time=e.event_time,
                shard=e.shard,
                leaf_index=e.leaf_index,
                height=e.height,
            )
            for e in page
        ],
        next_cursor=encode_cursor([last.event_time.isoformat(), str(last.event_id)]) if last else None,
    )


@router.get(
    "/v1/events/{event_id}/evidence", response_model=models.EvidenceOut, responses=responses(404, 422)
)
async def get_evidence(request: Request, event_id: EventId) -> JSONResponse:
    """The event's evidence bundle: verify it offline with `provledger verify`."""
    async with connection(request) as conn:
        rows = await reads.evidence_rows(conn, event_id)
        if rows is None:
            raise _not_sealed(event_id)
        if rows.checkpoint is None:
            raise ProblemError(
                404,
                "checkpoint-missing",
                f"block {rows.event.height} of shard {rows.event.shard} has no stored shard checkpoint "
                "(sealed before checkpoints were kept?): evidence cannot be built for this event",
            )
        header = BlockHeader.from_bytes(rows.header)
        proof = await inclusion_proof(conn, rows.event.shard, rows.event.leaf_index, header.tree_size)
        keys = list(rows.verifier_keys)
        known = {VerifierKey.parse(key).key_id for key in keys}
        missing = {s.key_id for s in parse_note(rows.checkpoint).signatures} - known
        if missing:
            keys += await reads.verifier_keys(conn, sorted(missing))
        anchoring = await bundle_anchors(conn, header, request.app.state.settings.anchor_interval_s)
    evidence = Evidence(
        event_id=str(rows.event.event_id),
        canonical_event=rows.event.canonical,
        shard=rows.event.shard,
        leaf_index=rows.event.leaf_index,
        tree_size=header.tree_size,
        inclusion_proof=tuple(proof),
        header=header,
        header_signature=rows.signature,
        checkpoint=rows.checkpoint,
        receipts=anchoring.receipts,
        keys=tuple(dict.fromkeys((*keys, *anchoring.keys))),
        next_anchor_due=anchoring.next_anchor_due,
    )
    return JSONResponse(evidence.to_json_obj())
