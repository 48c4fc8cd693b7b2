"""The evidence bundle's format: one JSON document proving one event offline, read strictly.

An :class:`Evidence` holds the event's canonical bytes, its leaf index, the
inclusion proof against its block's ``log_root``, the signed block header, the
shard checkpoint at the block's tree size, anchor receipts and the public keys.
Reading it checks only its form (types, canonical base64, header fields matching
the header bytes); what it proves is :mod:`provledger.ledger.evidence`'s business.

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
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from provledger.errors import VerificationError
from provledger.ledger.block import BlockHeader
from provledger.ledger.keys import VerifierKey, b64decode_strict

EVIDENCE_FORMAT: Final = "provledger-evidence/v1"


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
