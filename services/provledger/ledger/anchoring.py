"""Anchor links: how a receipt ties an evidence bundle's block to an anchored shard-heads statement.

Every anchor receipt in a bundle, whatever its kind, carries the statement it anchors (the
anchorer's signed note, exactly as anchored) and a ``link`` from the bundle's block to the head
that statement names for the bundle's shard::

    "link": {"seq": 12, "shard": 3, "height": 9,
             "header": "<base64 canonical header of block 9>", "signature": "<base64>",
             "consistency_proof": ["<base64 hash>", ...]}

``seq`` is the statement's sequence number, a label to look it up with (``GET /v1/anchors/12``);
it is not signed and nothing is concluded from it. :func:`verify_link` checks the rest with no
I/O: the statement is signed by a trusted key that is not a block-signing key (a stolen sealer
key alone must not be able to forge anchors); it is a shard-heads statement of the bundle's
ledger naming, for the bundle's shard, exactly the linked head (its height and the hash of its
header); the linked header is the bundle's shard, signed under a trusted key valid when it was
sealed, and at or above the bundle's block; and an RFC 9162 consistency proof shows the
bundle's tree is a prefix of the linked head's. The token or signature that anchors the
statement itself is the kind's own check (``rfc3161``: :mod:`provledger.anchor.rfc3161.verify`).

    >>> AnchorLink.from_json({"seq": 12, "shard": 3})
    Traceback (most recent call last):
    ...
    provledger.errors.VerificationError: receipt link.height is missing or not a non-negative integer
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provledger.errors import VerificationError
from provledger.ledger.block import BlockHeader, block_hash, verify_header_signature
from provledger.ledger.checkpoint import Checkpoint, ShardHead, shard_heads, shard_origin
from provledger.ledger.keys import KeySet, VerifierKey, b64decode_strict
from provledger.ledger.merkle import verify_consistency
from provledger.ledger.note import OpenedNote, open_note


def _int(value: Mapping[str, Any], key: str) -> int:
    found = value.get(key)
    if type(found) is not int or found < 0:
        raise VerificationError(f"receipt link.{key} is missing or not a non-negative integer")
    return found


def _b64(value: Mapping[str, Any], key: str) -> bytes:
    found = value.get(key)
    if not isinstance(found, str):
        raise VerificationError(f"receipt link.{key} is missing or not a string")
    return b64decode_strict(found, f"receipt link.{key}")


@dataclass(frozen=True)
class AnchorLink:
    """The anchored head a receipt links to, and the proof that the bundle's tree grew into it."""

    seq: int
    shard: int
    height: int
    header: BlockHeader
    signature: bytes
    consistency_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``link`` object of a receipt (shape in the module docstring)."""
        return {
            "seq": self.seq,
            "shard": self.shard,
            "height": self.height,
            "header": base64.b64encode(self.header.to_bytes()).decode(),
            "signature": base64.b64encode(self.signature).decode(),
            "consistency_proof": [base64.b64encode(h).decode() for h in self.consistency_proof],
        }

    @classmethod
    def from_json(cls, value: object) -> AnchorLink:
        """Read a ``link`` strictly: types, canonical base64, a header that decodes."""
        if not isinstance(value, dict):
            raise VerificationError("the receipt has no 'link' object")
        seq, shard, height = _int(value, "seq"), _int(value, "shard"), _int(value, "height")
        proof = value.get("consistency_proof")
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            raise VerificationError("receipt link.consistency_proof is not a list of base64 strings")
        return cls(
            seq=seq,
            shard=shard,
            height=height,
            header=BlockHeader.from_bytes(_b64(value, "header")),
            signature=_b64(value, "signature"),
            consistency_proof=tuple(b64decode_strict(h, "receipt link proof hash") for h in proof),
        )


@dataclass(frozen=True, slots=True)
class LinkedHead:
    """What a link established: which statement, signed by whom, names which head above the block."""

    seq: int
    signer: str
    head: ShardHead
    tree_size: int
    block_tree_size: int

    def describe(self) -> str:
        """One line for ``provledger verify``."""
        return (
            f"statement {self.seq} signed by {self.signer} names shard {self.head.shard} head "
            f"{self.head.height} (tree size {self.tree_size}), consistent with this block's tree "
            f"size {self.block_tree_size}"
        )


def _block_signers(keys: KeySet, headers: Sequence[BlockHeader]) -> set[bytes]:
    """Public keys of the trusted keys the headers name: none of them may sign a statement."""
    ids = {header.key_id for header in headers}
    return {k.verifier.public_key for k in keys.keys if k.verifier.key_id in ids}


def open_statement(
    statement: str,
    trusted_keys: KeySet,
    headers: Sequence[BlockHeader],
    anchorer_keys: Collection[VerifierKey] | None = None,
) -> tuple[OpenedNote, Checkpoint]:
    """Verify the statement's signature under an anchorer key and parse it as a checkpoint.

    The candidates are ``anchorer_keys`` when given, else every trusted key; either way a key
    whose public half signs one of ``headers`` is left out, so a statement signed only by the
    sealer's key fails (ARCHITECTURE.md section 3: the anchorer signs "with its own key (never
    the sealer's)").
    """
    sealers = _block_signers(trusted_keys, headers)
    candidates = trusted_keys.verifiers() if anchorer_keys is None else tuple(anchorer_keys)
    verifiers = [key for key in candidates if key.public_key not in sealers]
    if not verifiers:
        raise VerificationError(
            "no trusted key other than the block signer's may sign statements: add the anchorer's "
            "verifier key (GET /v1/keys) to the trusted keys"
        )
    try:
        opened = open_note(statement, verifiers)
    except VerificationError as exc:
        raise VerificationError(
            f"statement: {exc} (a block-signing key never counts; trust the anchorer's key, GET /v1/keys)"
        ) from exc
    return opened, Checkpoint.parse(opened.text)


def _signer_name(opened: OpenedNote) -> str:
    first = opened.verified[0]
    return f"{first.name} (id {first.key_id.hex()})"


def verify_link(
    statement: str,
    link: AnchorLink,
    block: BlockHeader,
    trusted_keys: KeySet,
    *,
    shard_log_origin: str,
    anchorer_keys: Collection[VerifierKey] | None = None,
) -> LinkedHead:
    """Check that ``statement`` anchors a head whose log extends the one ``block`` ends.

    ``block`` is the bundle's (already checked apart) header and ``shard_log_origin`` the origin
    of its shard checkpoint, ``<log origin>/shard/<n>``: the statement MUST come from the same
    ``<log origin>``. Raises :class:`VerificationError` saying what does not hold.
    """
    header = link.header
    if (link.shard, link.height) != (header.shard, header.height):
        raise VerificationError(
            f"link names block {link.shard}/{link.height}, its header is block {header.shard}/{header.height}"
        )
    if header.shard != block.shard or header.log_id != block.log_id:
        raise VerificationError(
            f"link header is of shard {header.shard} of log {header.log_id.hex()}, the bundle's block of "
            f"shard {block.shard} of log {block.log_id.hex()}"
        )
    verify_header_signature(header, link.signature, trusted_keys)
    opened, checkpoint = open_statement(statement, trusted_keys, (block, header), anchorer_keys)
    if shard_origin(checkpoint.origin, block.shard) != shard_log_origin:
        raise VerificationError(
            f"statement origin {checkpoint.origin!r} is not the ledger of checkpoint {shard_log_origin!r}"
        )
    named = {head.shard: head for head in shard_heads(checkpoint)}.get(block.shard)
    anchored = ShardHead(header.shard, header.height, block_hash(header))
    if named != anchored:
        said = "no head" if named is None else f"head {named.height} hash {named.block_hash.hex()}"
        raise VerificationError(
            f"statement names {said} for shard {block.shard}; the link is head {anchored.height} "
            f"hash {anchored.block_hash.hex()}"
        )
    _check_growth(block, header, link.consistency_proof)
    return LinkedHead(link.seq, _signer_name(opened), anchored, header.tree_size, block.tree_size)


def _check_growth(block: BlockHeader, head: BlockHeader, proof: Sequence[bytes]) -> None:
    """The anchored head is the block or after it, and its log extends the block's."""
    if head.height < block.height:
        raise VerificationError(f"anchored head {head.height} is below the bundle's block {block.height}")
    if head.height == block.height and head != block:
        raise VerificationError(f"anchored head {head.height} is not the bundle's block of that height")
    if head.height > block.height and head.tree_size <= block.tree_size:
        raise VerificationError(
            f"anchored head {head.height} has tree size {head.tree_size}, "
            f"not above the block's {block.tree_size}"
        )
    # SPEC: RFC 9162 2.1.4.2: "When a client has a tree head first_hash for tree size first, a
    # tree head second_hash for tree size second where 0 < first < second, and has received a
    # consistency proof consistency_path for them, the following algorithm may be used to verify
    # the consistency proof"; equal sizes need an empty proof and the same root.
    try:
        verify_consistency(block.tree_size, head.tree_size, block.log_root, head.log_root, proof)
    except VerificationError as exc:
        raise VerificationError(f"link consistency proof: {exc}") from exc
