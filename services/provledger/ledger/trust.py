"""What a verifier trusts about a bundle's block: its log, the key that signed it, and when.

Every rule here takes the user's :class:`~provledger.ledger.keys.KeySet` and the header, never
anything the bundle says about itself, so a bundle cannot vouch for its own trust:

- **Log.** A header names its ledger by ``log_id`` = the first 16 bytes of SHA-256 over the log
  origin (:func:`~provledger.ledger.block.log_id_for`). One key may sign for several logs, so a
  signature alone does not say *which* log a block belongs to: the verifier MUST hold the
  header's ``log_id`` and the checkpoint's origin to the origin the user expects.
  :func:`origin_of_keys` finds that origin when every trusted key carries the same name, since
  C2SP signed-note conventionally names a log's key after its origin.
- **Checkpoint key.** The shard checkpoint MUST be signed by the very key that signed the
  header (the sealer signs both), not merely by some trusted key: another trusted key, such as
  the anchorer's, must not be able to vouch for a tree the block's signer never stated.
- **Key time.** A header's ``sealed_at`` is the signer's own claim. Whoever holds a *retired*
  key (its trusted range has an end) can sign a new header and claim a ``sealed_at`` inside
  the old range: the range check alone cannot tell. So a block signed by a retired key MUST be
  covered by a time a third party attests, earlier than the key's end: a verified anchor
  receipt (an RFC 3161 token over a statement naming a head that extends the block) proves the
  block existed then. Without one the block is refused, saying what to supply. What the time
  covers is the block's tree (its events, by the consistency proof), which is what the header
  vouches for: a header re-signed later over that same tree states nothing the TSA had not
  seen. ``provledger verify`` reads the time of ``rfc3161`` receipts (the earliest token's
  ``genTime``) and of ``tlog-witness`` receipts (the latest time among the witnesses that meet
  the policy's quorum: by then all of them had cosigned). A key with an open
  range is the key trusted now, and whatever it signs is vouched for now.

    >>> from provledger.ledger.keys import KeySet, SigningKey
    >>> origin_of_keys(KeySet.of([SigningKey.generate("ledger.example.com/log").verifier]))
    'ledger.example.com/log'
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from provledger.errors import VerificationError
from provledger.ledger.block import BlockHeader, log_id_for, verify_header_signature
from provledger.ledger.checkpoint import open_checkpoint, shard_origin
from provledger.ledger.keys import KeySet, TrustedKey


@dataclass(frozen=True, slots=True)
class AttestedTime:
    """A time a verified receipt proves the block existed by, and which receipt says so."""

    source: str
    at: int


def origin_of_keys(keys: KeySet) -> str | None:
    """The log origin every trusted key is named after, or None when their names differ."""
    names = {key.verifier.name for key in keys.keys}
    return names.pop() if len(names) == 1 else None


def check_log_id(header: BlockHeader, log_origin: str | None) -> str:
    """The header's ``log_id`` MUST be that of ``log_origin``: a block of another log is refused."""
    if log_origin is None:
        raise VerificationError("no log origin given: the header's log_id cannot be checked")
    expected = log_id_for(log_origin)
    if header.log_id != expected:
        raise VerificationError(
            f"header log_id {header.log_id.hex()} is not {expected.hex()}, the log_id of "
            f"{log_origin!r}: the block belongs to another log"
        )
    return f"log_id {expected.hex()} is the log {log_origin!r}"


def check_expected_event(bundle_event_id: str, decoded: str | None, expected: str) -> str:
    """The bundle MUST be about the event the user asked for (``decoded`` from the canonical bytes)."""
    try:
        wanted = str(uuid.UUID(expected))
    except ValueError as exc:
        raise VerificationError(f"the expected event id {expected!r} is not a UUID") from exc
    for what, value in (("the bundle names", bundle_event_id), ("its canonical bytes hold", decoded)):
        if value is not None and value.lower() != wanted:
            raise VerificationError(f"{what} event {value!r}, not the expected event {wanted}")
    return f"the bundle is about event {wanted}"


def header_keys(header: BlockHeader, signature: bytes, keys: KeySet) -> tuple[TrustedKey, ...]:
    """The trusted entries whose key signed the header, whatever their ranges (empty if none did)."""
    signed = []
    for key in keys.keys:
        if key.verifier.key_id != header.key_id:
            continue
        try:
            verify_header_signature(header, signature, KeySet((TrustedKey(key.verifier),)))
        except VerificationError:
            continue
        signed.append(key)
    return tuple(signed)


def check_header_signature(header: BlockHeader, signature: bytes, keys: KeySet) -> str:
    """Signed by a trusted key whose range holds the header's ``sealed_at`` (the claim alone)."""
    key = verify_header_signature(header, signature, keys)
    return f"signed by {key.describe()}"


def check_key_time(
    header: BlockHeader, signers: Sequence[TrustedKey], attested: Sequence[AttestedTime]
) -> str:
    """A retired signer MUST be covered by an attested time before its end (module docstring)."""
    in_range = [key for key in signers if key.valid_at(header.sealed_at)]
    if not in_range:
        raise VerificationError(f"no trusted key that signed the header is valid at {header.sealed_at}")
    if any(key.valid_until is None for key in in_range):
        return "signed by a key trusted now (open validity range)"
    end = max(key.valid_until or 0 for key in in_range)
    name = in_range[0].verifier.name
    before = sorted((t for t in attested if t.at < end), key=lambda t: t.at)
    if not before:
        seen = ", ".join(f"{t.source} at {t.at}" for t in attested) or "none"
        raise VerificationError(
            f"key {name!r} (id {header.key_id.hex()}) was retired at {end}; the header's own sealed_at "
            f"{header.sealed_at} cannot show it signed before then, since whoever holds a retired key "
            f"can backdate. Attested times: {seen}. Verify a bundle carrying a receipt timed before "
            f"{end} (rfc3161 with --tsa-roots, tlog-witness with --witness-policy), or refuse the block"
        )
    first = before[0]
    return f"key {name!r} retired at {end}; {first.source} attests the block existed at {first.at}"


def check_checkpoint(note: str, header: BlockHeader, keys: KeySet, log_origin: str | None) -> str:
    """The shard checkpoint, signed by the trusted key the header names, names its shard, size and root.

    The key is the one with the header's ``key_id`` (whether the header's own signature holds is
    the ``header-signature`` check's to say); no other trusted key may sign the checkpoint.
    """
    verifiers = tuple(k.verifier for k in keys.keys if k.verifier.key_id == header.key_id)
    verifiers = tuple(dict.fromkeys(verifiers))
    if not verifiers:
        raise VerificationError(
            f"no trusted key has the header's key id {header.key_id.hex()}, so none may sign its "
            "checkpoint (another trusted key must not vouch for a tree the block's signer never stated)"
        )
    try:
        checkpoint = open_checkpoint(note, verifiers)
    except (VerificationError, ValueError) as exc:
        raise VerificationError(
            f"the checkpoint is not signed by the key that signed the header "
            f"({verifiers[0].name}, id {verifiers[0].key_id.hex()}): {exc}"
        ) from exc
    expected = shard_origin(log_origin, header.shard) if log_origin is not None else None
    if expected is not None and checkpoint.origin != expected:
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
    return f"{checkpoint.origin} at size {checkpoint.size} is signed by the header's key"
