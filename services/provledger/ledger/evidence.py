"""Evidence bundles: everything needed to prove one event offline, and their verification.

An :class:`Evidence` holds the event's canonical bytes, its leaf index, the
inclusion proof against its block's ``log_root``, the signed block header, the
shard checkpoint at the block's tree size, anchor receipts and the public keys.
:func:`verify_evidence` rechecks all of it with no database and no network, and
says which checks ran; trust comes only from the ``trusted_keys`` the caller
supplies, never from the keys inside the bundle.

A receipt ties the block to something an anchor kind vouched for, through a *link*
that :func:`verify_evidence` checks itself, before the kind's own
:class:`ReceiptVerifier`, so no kind can skip it. Two forms, fixed by the receipt's
type (:data:`CHECKPOINT_LINKED_RECEIPTS`):

- statement-linked (``rfc3161``, ``evm``): the kind vouches for a statement the
  anchorer signed; the receipt holds the ``statement`` note and a ``link`` to the head
  it names for the bundle's shard (:func:`provledger.ledger.anchoring.verify_link`);
- checkpoint-linked (``tlog-witness``): witnesses cosign the shard's own checkpoint;
  the receipt holds that ``checkpoint`` and the ``consistency_proof`` from the block's
  tree to it (:func:`provledger.ledger.witnessed.link_checkpoint`), and no statement.

A bundle carries, per statement-linked kind, the receipt of the earliest statement
covering its block that has one of that kind, so that receipt no longer changes once
there; the ``tlog-witness`` receipt may still gain cosignatures of witnesses that
answer later. Before any receipt, ``anchored`` is false and ``next_anchor_due`` says
when the anchorer's next statement is due (null when it has made none).

JSON shape (format ``provledger-evidence/v1``; bytes are standard base64 unless
said otherwise; readers ignore fields they do not know)::

    {
      "format": "provledger-evidence/v1",
      "event": {"event_id": "<uuid7>", "canonical": "<base64 canonical event bytes>"},
      "shard": 3, "leaf_index": 41, "tree_size": 64,
      "inclusion_proof": ["<base64 hash>", ...],
      "block": {
        "height": 7, "header": "<base64 canonical header>", "signature": "<base64>",
        "key_id": "<8 hex>", "version": 1, "log_id": "<32 hex>", "shard": 3,
        "prev_block_hash": "<base64>", "batch_root": "<base64>", "tree_size": 64,
        "log_root": "<base64>", "first_offset": 0, "last_offset": 9, "event_count": 8,
        "min_event_time": 0, "max_event_time": 0, "sealed_at": 0
      },
      "checkpoint": "<signed note: <origin>/shard/3, 64, base64(log_root)>",
      "receipts": [{
        "type": "rfc3161",
        "statement": "<the anchorer's signed shard-heads note, exactly as anchored>",
        "responses": ["<base64 DER TimeStampResp>", ...],
        "link": {"seq": 12, "shard": 3, "height": 9, "header": "<base64 canonical header>",
                 "signature": "<base64>", "consistency_proof": ["<base64 hash>", ...]}
      }, {
        "type": "tlog-witness",
        "checkpoint": "<signed note: <origin>/shard/3, size >= 64, root, then cosignature lines>",
        "consistency_proof": ["<base64 hash>", ...]
      }],
      "anchored": true,
      "next_anchor_due": null,
      "keys": ["<name>+<hex key id>+<base64(0x01||public key)>"]
    }

``receipts`` hold, besides ``type`` and their link's fields, the fields of their kind
(``responses`` for ``rfc3161``: one token per TSA). ``anchored`` is true exactly
when ``receipts`` is not empty; ``next_anchor_due`` (RFC 3339 time or null) is set
only when it is false. ``keys`` include the anchorer's key that signed the statements.

The decoded header fields in ``block`` are for people and tools that cannot
decode the layout; :meth:`Evidence.from_json` rejects a bundle where they
disagree with the header bytes.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final, Protocol

from provledger.errors import VerificationError
from provledger.ledger.anchoring import AnchorLink, verify_link
from provledger.ledger.block import BlockHeader, verify_header_signature
from provledger.ledger.checkpoint import Checkpoint, open_checkpoint, shard_origin
from provledger.ledger.keys import KeySet, VerifierKey, b64decode_strict
from provledger.ledger.merkle import leaf_hash, verify_inclusion
from provledger.ledger.note import parse_note
from provledger.ledger.witnessed import RECEIPT_TYPE as TLOG_WITNESS
from provledger.ledger.witnessed import WitnessReceipt, link_checkpoint

EVIDENCE_FORMAT: Final = "provledger-evidence/v1"
#: Receipt types linked to the block by the shard checkpoint they carry, not by a statement.
#:
#: Why here, by type, and not declared by each verifier: the link is part of the receipt
#: *format* (which outside verifiers read too), and choosing it is a trust decision. Deciding
#: it in this one place, from the type alone, means neither a bundle (by its fields) nor a
#: verifier plugged in by a caller can pick a weaker link; a verifier only ever checks what
#: anchors a link already proven. Every other type is statement-linked.
CHECKPOINT_LINKED_RECEIPTS: Final = frozenset({TLOG_WITNESS})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def header_fields(header: BlockHeader) -> dict[str, object]:
    """The decoded header as JSON values: ids in hex, hashes in base64, numbers as ints."""
    return {
        "height": header.height,
        "key_id": header.key_id.hex(),
        "version": header.version,
        "log_id": header.log_id.hex(),
        "shard": header.shard,
        "prev_block_hash": _b64(header.prev_block_hash),
        "batch_root": _b64(header.batch_root),
        "tree_size": header.tree_size,
        "log_root": _b64(header.log_root),
        "first_offset": header.first_offset,
        "last_offset": header.last_offset,
        "event_count": header.event_count,
        "min_event_time": header.min_event_time,
        "max_event_time": header.max_event_time,
        "sealed_at": header.sealed_at,
    }


@dataclass(frozen=True)
class Receipt:
    """One anchor receipt: its ``type`` and the whole JSON object as it came (not hashable)."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: object) -> Receipt:
        """A receipt object; it MUST have a non-empty string ``type``."""
        if not isinstance(value, dict) or not isinstance(value.get("type"), str) or not value["type"]:
            raise VerificationError(f"receipt {value!r} is not an object with a string 'type'")
        return cls(value["type"], dict(value))

    def to_json(self) -> dict[str, Any]:
        """The receipt object, ``type`` included."""
        return {**self.data, "type": self.type}


class _Reader:
    """Typed access to one JSON object, naming the field path in every error."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise VerificationError(f"evidence {where} is not a JSON object")
        self.value: dict[str, Any] = value
        self.where = where

    def get(self, key: str, kind: type[Any]) -> Any:
        value = self.value.get(key)
        # bool is an int in Python; JSON true is never a number here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise VerificationError(f"evidence {self.where}{key} is missing or not a {kind.__name__}")
        if kind is int and value < 0:
            raise VerificationError(f"evidence {self.where}{key} is negative")
        return value

    def b64(self, key: str) -> bytes:
        return b64decode_strict(self.get(key, str), f"evidence {self.where}{key}")

    def strings(self, key: str) -> list[str]:
        values: list[object] = self.get(key, list)
        strings = [value for value in values if isinstance(value, str)]
        if len(strings) != len(values):
            raise VerificationError(f"evidence {self.where}{key} has a non-string entry")
        return strings


@dataclass(frozen=True)
class Evidence:
    """An event's proof bundle, as the API serves it and ``provledger verify`` reads it."""

    event_id: str
    canonical_event: bytes
    shard: int
    leaf_index: int
    tree_size: int
    inclusion_proof: tuple[bytes, ...]
    header: BlockHeader
    header_signature: bytes
    checkpoint: str
    receipts: tuple[Receipt, ...] = ()
    keys: tuple[str, ...] = ()
    #: When the anchorer's next statement is due (RFC 3339), for a bundle not anchored yet.
    next_anchor_due: str | None = None

    @property
    def anchored(self) -> bool:
        """Whether the bundle carries a receipt (the API never changes a kind's receipt once present)."""
        return bool(self.receipts)

    def to_json_obj(self) -> dict[str, Any]:
        """The bundle as JSON values (shape in the module docstring)."""
        return {
            "format": EVIDENCE_FORMAT,
            "event": {"event_id": self.event_id, "canonical": _b64(self.canonical_event)},
            "shard": self.shard,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "inclusion_proof": [_b64(h) for h in self.inclusion_proof],
            "block": {
                "header": _b64(self.header.to_bytes()),
                "signature": _b64(self.header_signature),
                **header_fields(self.header),
            },
            "checkpoint": self.checkpoint,
            "receipts": [r.to_json() for r in self.receipts],
            "anchored": self.anchored,
            "next_anchor_due": self.next_anchor_due,
            "keys": list(self.keys),
        }

    def to_json(self) -> str:
        """The bundle as a JSON document."""
        return json.dumps(self.to_json_obj(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, document: str | bytes | Mapping[str, Any]) -> Evidence:
        """Read a bundle strictly: right format, types and base64, header fields matching its bytes."""
        if isinstance(document, str | bytes):
            try:
                document = json.loads(document)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise VerificationError(f"evidence is not JSON: {exc}") from exc
        top = _Reader(dict(document) if isinstance(document, Mapping) else document, "")
        if top.value.get("format") != EVIDENCE_FORMAT:
            raise VerificationError(
                f"evidence format is {top.value.get('format')!r}, not {EVIDENCE_FORMAT!r}"
            )
        event, block = _Reader(top.get("event", dict), "event."), _Reader(top.get("block", dict), "block.")
        header = BlockHeader.from_bytes(block.b64("header"))
        for key, expected in header_fields(header).items():
            if block.value.get(key) != expected or type(block.value.get(key)) is not type(expected):
                raise VerificationError(
                    f"evidence block.{key} is {block.value.get(key)!r} but the header bytes say {expected!r}"
                )
        keys = top.strings("keys")
        for text in keys:
            VerifierKey.parse(text)
        receipts = tuple(Receipt.from_json(r) for r in top.get("receipts", list))
        return cls(
            event_id=event.get("event_id", str),
            canonical_event=event.b64("canonical"),
            shard=top.get("shard", int),
            leaf_index=top.get("leaf_index", int),
            tree_size=top.get("tree_size", int),
            inclusion_proof=tuple(
                b64decode_strict(h, "evidence inclusion_proof entry") for h in top.strings("inclusion_proof")
            ),
            header=header,
            header_signature=block.b64("signature"),
            checkpoint=top.get("checkpoint", str),
            receipts=receipts,
            keys=tuple(keys),
            next_anchor_due=_anchoring_state(top.value, bool(receipts)),
        )


def _anchoring_state(top: Mapping[str, Any], anchored: bool) -> str | None:
    """``next_anchor_due`` after checking ``anchored`` agrees with the receipts (both optional)."""
    said, due = top.get("anchored", anchored), top.get("next_anchor_due")
    if said is not anchored:
        carries = "receipts" if anchored else "no receipt"
        raise VerificationError(f"evidence anchored is {said!r} but it carries {carries}")
    if due is None:
        return None
    if not isinstance(due, str) or anchored:
        raise VerificationError(
            f"evidence next_anchor_due {due!r} is not null, nor the time of an unanchored bundle"
        )
    try:
        datetime.fromisoformat(due)
    except ValueError as exc:
        raise VerificationError(f"evidence next_anchor_due {due!r} is not an RFC 3339 time") from exc
    return due


class ReceiptVerifier(Protocol):
    """Checks one kind of anchor receipt against the evidence it came with.

    Returns a short detail of what it established; raises
    :class:`VerificationError` saying why the receipt does not hold.
    """

    def __call__(self, receipt: Receipt, evidence: Evidence, /) -> str: ...


class CheckStatus(enum.Enum):
    """The outcome of one check. UNCHECKED is not PASSED: nothing was established."""

    PASSED = "passed"
    FAILED = "failed"
    UNCHECKED = "unchecked"


@dataclass(frozen=True, slots=True)
class Check:
    """One check :func:`verify_evidence` ran (or could not run), and why it came out so."""

    name: str
    status: CheckStatus
    detail: str

    @property
    def passed(self) -> bool:
        """Whether the check ran and held."""
        return self.status is CheckStatus.PASSED


@dataclass(frozen=True)
class VerifiedEvidence:
    """The evidence and every check run on it; :attr:`ok` only if none failed."""

    evidence: Evidence
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """No check failed. (Receipts of unknown types are UNCHECKED and do not count as proof.)"""
        return not self.failures()

    def failures(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if c.status is CheckStatus.FAILED)

    def raise_for_failures(self) -> VerifiedEvidence:
        """Return self if :attr:`ok`, else raise :class:`VerificationError` listing each failure."""
        failed = self.failures()
        if failed:
            raise VerificationError(
                "evidence does not verify: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
            )
        return self


def _run(name: str, check: Callable[[], str]) -> Check:
    try:
        return Check(name, CheckStatus.PASSED, check())
    except VerificationError as exc:
        return Check(name, CheckStatus.FAILED, str(exc))


def _leaf_in_block(evidence: Evidence) -> str:
    header = evidence.header
    if (evidence.shard, evidence.tree_size) != (header.shard, header.tree_size):
        raise VerificationError(
            f"evidence names shard {evidence.shard} at size {evidence.tree_size}, "
            f"the header shard {header.shard} at size {header.tree_size}"
        )
    if not header.first_leaf_index <= evidence.leaf_index < header.tree_size:
        raise VerificationError(
            f"leaf {evidence.leaf_index} is not in block {header.height} "
            f"(leaves {header.first_leaf_index}..{header.tree_size - 1})"
        )
    return f"leaf {evidence.leaf_index} is in block {header.height} of shard {header.shard}"


def _inclusion(evidence: Evidence) -> str:
    leaf = leaf_hash(evidence.canonical_event)
    header = evidence.header
    verify_inclusion(leaf, evidence.leaf_index, evidence.tree_size, evidence.inclusion_proof, header.log_root)
    return f"leaf hash {leaf.hex()} is leaf {evidence.leaf_index} under log_root {header.log_root.hex()}"


def _header_signature(evidence: Evidence, trusted_keys: KeySet) -> str:
    key = verify_header_signature(evidence.header, evidence.header_signature, trusted_keys)
    return f"signed by {key.describe()}"


def _checkpoint(evidence: Evidence, trusted_keys: KeySet, log_origin: str | None) -> str:
    header = evidence.header
    checkpoint = open_checkpoint(evidence.checkpoint, trusted_keys.verifiers())
    if log_origin is not None and checkpoint.origin != shard_origin(log_origin, header.shard):
        raise VerificationError(
            f"checkpoint origin {checkpoint.origin!r} is not shard {header.shard} of {log_origin!r}"
        )
    if not checkpoint.origin.endswith(shard_origin("", header.shard)):
        raise VerificationError(
            f"checkpoint origin {checkpoint.origin!r} is not a log of shard {header.shard}"
        )
    if (checkpoint.size, checkpoint.root) != (header.tree_size, header.log_root):
        raise VerificationError(
            f"checkpoint states size {checkpoint.size} root {checkpoint.root.hex()}, "
            f"the header size {header.tree_size} root {header.log_root.hex()}"
        )
    return f"{checkpoint.origin} at size {checkpoint.size} is signed by a trusted key"


def _event_id(evidence: Evidence, event_id_of: Callable[[bytes], str]) -> str:
    decoded = event_id_of(evidence.canonical_event)
    if decoded != evidence.event_id:
        raise VerificationError(f"canonical bytes hold event {decoded}, the bundle says {evidence.event_id}")
    return f"canonical bytes hold event {decoded}"


def _receipt(
    receipt: Receipt,
    evidence: Evidence,
    verifier: ReceiptVerifier,
    trusted_keys: KeySet,
    log_origin: str | None,
    anchorer_keys: Collection[VerifierKey] | None,
) -> str:
    """The receipt's link (to a statement, or its own checkpoint), then the kind's own check."""
    if log_origin is None:
        origin = Checkpoint.parse(parse_note(evidence.checkpoint).text).origin
    else:
        origin = shard_origin(log_origin, evidence.header.shard)
    if receipt.type in CHECKPOINT_LINKED_RECEIPTS:
        fields = WitnessReceipt.from_fields(receipt.data)
        witnessed = link_checkpoint(fields, evidence.header, trusted_keys, origin)
        return f"{witnessed.describe()}; {verifier(receipt, evidence)}"
    statement = receipt.data.get("statement")
    if not isinstance(statement, str):
        raise VerificationError("the receipt has no string 'statement'")
    link = AnchorLink.from_json(receipt.data.get("link"))
    linked = verify_link(
        statement, link, evidence.header, trusted_keys, shard_log_origin=origin, anchorer_keys=anchorer_keys
    )
    return f"{linked.describe()}; {verifier(receipt, evidence)}"


def _anchor_policy(evidence: Evidence, required: Collection[str], anchored: Collection[str]) -> Check:
    missing = sorted(set(required) - set(anchored))
    if not missing:
        return Check("anchor-policy", CheckStatus.PASSED, "every required anchor verified")
    if not evidence.anchored:
        due = evidence.next_anchor_due
        when = f"the next statement is due at {due}" if due else "the anchorer has signed no statement yet"
        return Check(
            "anchor-policy",
            CheckStatus.FAILED,
            f"the bundle is not anchored yet ({when}): fetch the bundle again after that "
            f"and verify it then; required {missing}",
        )
    return Check("anchor-policy", CheckStatus.FAILED, f"missing verified receipts of type {missing}")


def verify_evidence(
    evidence: Evidence,
    trusted_keys: KeySet,
    *,
    receipt_verifiers: Mapping[str, ReceiptVerifier] | None = None,
    required_receipts: Collection[str] = (),
    log_origin: str | None = None,
    event_id_of: Callable[[bytes], str] | None = None,
    anchorer_keys: Collection[VerifierKey] | None = None,
) -> VerifiedEvidence:
    """Check everything the bundle holds; every check runs, so the result lists all failures.

    Checks: the leaf lies in the block (``tree_size - event_count <= leaf_index <
    tree_size``, same shard and size as the header); the inclusion proof of
    ``leaf_hash(canonical)`` against the header's ``log_root``; the header signature
    under a trusted key valid at its ``sealed_at``; the checkpoint note signed by a
    trusted key, naming the header's shard (``<log_origin>/shard/<n>`` when
    ``log_origin`` is given), size and root; each receipt whose type has a verifier:
    its link (:func:`~provledger.ledger.anchoring.verify_link`, the statement signed
    by one of ``anchorer_keys`` if given, else by a trusted key that signs no block
    here; for :data:`CHECKPOINT_LINKED_RECEIPTS`,
    :func:`~provledger.ledger.witnessed.link_checkpoint`, the shard checkpoint signed by
    a trusted key and consistent with the block's tree), then the verifier (UNCHECKED
    without one); that each ``required_receipts``
    type has a receipt that passed (saying when to fetch an unanchored bundle again);
    and, when ``event_id_of`` decodes the canonical bytes,
    that they hold ``event_id`` (UNCHECKED otherwise: the ledger core cannot read Avro).
    """
    verifiers = receipt_verifiers or {}
    checks = [
        _run("leaf-in-block", lambda: _leaf_in_block(evidence)),
        _run("inclusion", lambda: _inclusion(evidence)),
        _run("header-signature", lambda: _header_signature(evidence, trusted_keys)),
        _run("checkpoint", lambda: _checkpoint(evidence, trusted_keys, log_origin)),
    ]
    if event_id_of is None:
        checks.append(Check("event-id", CheckStatus.UNCHECKED, "no event decoder given; event_id is a label"))
    else:
        decode = event_id_of
        checks.append(_run("event-id", lambda: _event_id(evidence, decode)))
    anchored: set[str] = set()
    for position, receipt in enumerate(evidence.receipts):
        name = f"receipt[{position}]:{receipt.type}"
        verifier = verifiers.get(receipt.type)
        if verifier is None:
            checks.append(
                Check(name, CheckStatus.UNCHECKED, f"no verifier for receipt type {receipt.type!r}")
            )
            continue
        check = _run(
            name, partial(_receipt, receipt, evidence, verifier, trusted_keys, log_origin, anchorer_keys)
        )
        checks.append(check)
        if check.passed:
            anchored.add(receipt.type)
    if required_receipts:
        checks.append(_anchor_policy(evidence, required_receipts, anchored))
    return VerifiedEvidence(evidence, tuple(checks))
