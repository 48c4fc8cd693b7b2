"""Evidence bundles: everything needed to prove one event offline, and their verification.

The format (:class:`Evidence`, its JSON shape) lives in :mod:`provledger.ledger.bundle`; this
module decides what a bundle proves.

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
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Final, Protocol

from provledger.errors import VerificationError
from provledger.ledger.anchoring import AnchorLink, verify_link
from provledger.ledger.bundle import EVIDENCE_FORMAT as EVIDENCE_FORMAT
from provledger.ledger.bundle import Evidence as Evidence
from provledger.ledger.bundle import Receipt as Receipt
from provledger.ledger.bundle import header_fields as header_fields
from provledger.ledger.checkpoint import Checkpoint, shard_origin
from provledger.ledger.keys import KeySet, VerifierKey
from provledger.ledger.merkle import leaf_hash, verify_inclusion
from provledger.ledger.note import parse_note
from provledger.ledger.trust import (
    AttestedTime,
    check_checkpoint,
    check_expected_event,
    check_header_signature,
    check_key_time,
    check_log_id,
    header_keys,
)
from provledger.ledger.witnessed import RECEIPT_TYPE as TLOG_WITNESS
from provledger.ledger.witnessed import WitnessReceipt, link_checkpoint

#: Receipt types linked to the block by the shard checkpoint they carry, not by a statement.
#:
#: Why here, by type, and not declared by each verifier: the link is part of the receipt
#: *format* (which outside verifiers read too), and choosing it is a trust decision. Deciding
#: it in this one place, from the type alone, means neither a bundle (by its fields) nor a
#: verifier plugged in by a caller can pick a weaker link; a verifier only ever checks what
#: anchors a link already proven. Every other type is statement-linked.
CHECKPOINT_LINKED_RECEIPTS: Final = frozenset({TLOG_WITNESS})


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


def _link_only(
    name: str,
    receipt: Receipt,
    evidence: Evidence,
    trusted_keys: KeySet,
    log_origin: str | None,
    anchorer_keys: Collection[VerifierKey] | None,
) -> Check:
    """A receipt whose kind cannot be checked here: UNCHECKED, but a broken link still FAILS.

    The link (statement or checkpoint, signed, extending the block) needs no kind's roots, so a
    receipt that carries one is held to it whatever the caller can check of the rest: a bundle
    with a forged link is wrong, not merely unanchored. A receipt of a type that carries no link
    (one this version does not know) stays UNCHECKED.
    """
    unchecked = f"no verifier for receipt type {receipt.type!r}"
    if receipt.type not in CHECKPOINT_LINKED_RECEIPTS and "link" not in receipt.data:
        return Check(name, CheckStatus.UNCHECKED, unchecked)
    linked = _run(
        name,
        partial(
            _receipt, receipt, evidence, lambda _r, _e: unchecked, trusted_keys, log_origin, anchorer_keys
        ),
    )
    return linked if not linked.passed else Check(name, CheckStatus.UNCHECKED, linked.detail)


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


#: The earliest time (microseconds since the epoch) a trusted third party attests a receipt's
#: statement existed, by receipt type; called only for a receipt whose checks all passed.
ReceiptTime = Callable[[Receipt], int]


def verify_evidence(
    evidence: Evidence,
    trusted_keys: KeySet,
    *,
    receipt_verifiers: Mapping[str, ReceiptVerifier] | None = None,
    required_receipts: Collection[str] = (),
    log_origin: str | None = None,
    event_id_of: Callable[[bytes], str] | None = None,
    anchorer_keys: Collection[VerifierKey] | None = None,
    expected_event_id: str | None = None,
    receipt_times: Mapping[str, ReceiptTime] | None = None,
) -> VerifiedEvidence:
    """Check everything the bundle holds; every check runs, so the result lists all failures.

    Checks: the leaf lies in the block (``tree_size - event_count <= leaf_index <
    tree_size``, same shard and size as the header); the inclusion proof of
    ``leaf_hash(canonical)`` against the header's ``log_root``; the header signature
    under a trusted key valid at its ``sealed_at``; the header's ``log_id`` is that of
    ``log_origin`` (UNCHECKED without one: ``provledger verify`` always gives one);
    ``key-time``: a retired signer is covered by a time ``receipt_times`` attests
    before its end (:mod:`provledger.ledger.trust`); the checkpoint note signed by the
    key that signed the header, naming the header's shard (``<log_origin>/shard/<n>``
    when ``log_origin`` is given), size and root; each receipt whose type has a verifier:
    its link (:func:`~provledger.ledger.anchoring.verify_link`, the statement signed
    by one of ``anchorer_keys`` if given, else by a trusted key that signs no block
    here; for :data:`CHECKPOINT_LINKED_RECEIPTS`,
    :func:`~provledger.ledger.witnessed.link_checkpoint`, the shard checkpoint signed by
    a trusted key and consistent with the block's tree), then the verifier (without one:
    UNCHECKED once the link holds, FAILED when it does not); that each ``required_receipts``
    type has a receipt that passed (saying when to fetch an unanchored bundle again);
    when ``event_id_of`` decodes the canonical bytes,
    that they hold ``event_id`` (UNCHECKED otherwise: the ledger core cannot read Avro);
    and with ``expected_event_id``, that the bundle is about that event.
    """
    verifiers = receipt_verifiers or {}
    header = evidence.header
    signers = header_keys(header, evidence.header_signature, trusted_keys)
    checks = [
        _run("leaf-in-block", lambda: _leaf_in_block(evidence)),
        _run("inclusion", lambda: _inclusion(evidence)),
        _run(
            "header-signature",
            lambda: check_header_signature(header, evidence.header_signature, trusted_keys),
        ),
    ]
    if log_origin is None:
        checks.append(Check("log-id", CheckStatus.UNCHECKED, "no log origin given: any log's block passes"))
    else:
        checks.append(_run("log-id", partial(check_log_id, header, log_origin)))
    checks.append(
        _run("checkpoint", lambda: check_checkpoint(evidence.checkpoint, header, trusted_keys, log_origin))
    )
    decoded: str | None = None
    if event_id_of is None:
        checks.append(Check("event-id", CheckStatus.UNCHECKED, "no event decoder given; event_id is a label"))
    else:
        decode = event_id_of
        checks.append(_run("event-id", lambda: _event_id(evidence, decode)))
        try:
            decoded = decode(evidence.canonical_event)
        except VerificationError:
            decoded = None
    if expected_event_id is not None:
        wanted, held = expected_event_id, decoded
        checks.append(_run("expected-event", lambda: check_expected_event(evidence.event_id, held, wanted)))
    anchored: set[str] = set()
    attested: list[AttestedTime] = []
    for position, receipt in enumerate(evidence.receipts):
        name = f"receipt[{position}]:{receipt.type}"
        verifier = verifiers.get(receipt.type)
        if verifier is None:
            checks.append(_link_only(name, receipt, evidence, trusted_keys, log_origin, anchorer_keys))
            continue
        check = _run(
            name, partial(_receipt, receipt, evidence, verifier, trusted_keys, log_origin, anchorer_keys)
        )
        checks.append(check)
        if check.passed:
            anchored.add(receipt.type)
            timer = (receipt_times or {}).get(receipt.type)
            # A time that cannot be read attests nothing; key-time then says so.
            with contextlib.suppress(VerificationError, ValueError):
                if timer is not None:
                    attested.append(AttestedTime(name, timer(receipt)))
    if signers and any(key.valid_at(header.sealed_at) for key in signers):
        checks.insert(3, _run("key-time", lambda: check_key_time(header, signers, attested)))
    else:
        checks.insert(
            3, Check("key-time", CheckStatus.UNCHECKED, "no trusted key in range signed the header")
        )
    if required_receipts:
        checks.append(_anchor_policy(evidence, required_receipts, anchored))
    return VerifiedEvidence(evidence, tuple(checks))
