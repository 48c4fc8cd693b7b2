"""``provledger verify``: check an evidence bundle offline, with trusted keys and nothing else.

No network and no database: the bundle and the key file are read, and the ledger core
(:func:`provledger.ledger.evidence.verify_evidence`) rechecks the inclusion proof, the block
header's signature, the shard checkpoint and every anchor receipt it can: the link to the
anchorer's statement (signed by a trusted key that signs no block, naming a head whose log
extends the block's) and, with ``--tsa-roots``, each RFC 3161 token over that statement; with
``--witness-policy``, each ``tlog-witness`` receipt: the shard checkpoint it carries (signed by a
trusted key, consistent with the block) cosigned by a quorum of the policy's witnesses, each
named with the time it cosigned. Trust comes only from ``--trusted-keys``, ``--tsa-roots`` and
``--witness-policy``, never from keys or certificates inside the bundle. ``--require
rfc3161,witness`` fails closed unless a receipt of each named kind verified.

The log origin is required: one key may sign for several logs, so without it a bundle of
another log signed by the same key would pass. It comes from ``--log-origin``, else from the
trusted keys' names when they all carry one name (C2SP names a log's key after its origin);
otherwise verify stops with a usage error saying to pass ``--log-origin``. The header's
``log_id`` and the checkpoint's origin must both be that log's. ``--event-id`` fails the bundle
unless it is about that event. Key validity comes from the trusted key set's ranges: a block
signed by a retired key passes only with a verified receipt (``rfc3161`` under ``--tsa-roots``,
or ``tlog-witness`` under ``--witness-policy``) timed before the key's end, since the header's
own ``sealed_at`` can be backdated by whoever holds the retired key (:mod:`provledger.ledger.trust`).

Before the checks, verify prints what the event states, decoded from its canonical bytes, and
every string from the bundle is printed escaped (:mod:`provledger.commands.verify_text`).

Exit codes: 0 when no check failed (a check that could not run is reported as ``unchecked`` and
proves nothing), 1 when any failed, 2 when the bundle, the key file or the roots cannot be read,
the log origin is unknown, or the options do not fit together::

    provledger verify evidence.json --trusted-keys keys.txt [--json] [--log-origin ORIGIN]
        [--event-id ID] [--tsa-roots tsa-roots.pem] [--witness-policy witnesses.txt]
        [--require rfc3161,witness]

The key file holds one C2SP verifier key (``<name>+<key id>+<base64>``) per line, ``#``
comments and blank lines allowed; or a JSON key set with validity ranges, as the API serves it
(``[{"key", "valid_from", "valid_until"}]``, optionally under ``"keys"``). The witness policy
is a Sigsum policy file with C2SP verifier keys (:mod:`provledger.ledger.witness_policy`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.text import Text

from provledger.commands.verify_text import Statement, check_table, event_statement, plain, print_statement
from provledger.errors import ConfigurationError, VerificationError
from provledger.events.canonical import canonical_event_id
from provledger.ledger.evidence import (
    EVIDENCE_FORMAT,
    Check,
    CheckStatus,
    Evidence,
    Receipt,
    ReceiptTime,
    ReceiptVerifier,
    verify_evidence,
)
from provledger.ledger.keys import KeySet, VerifierKey
from provledger.ledger.trust import origin_of_keys
from provledger.ledger.witness_policy import WitnessPolicy, parse_witness_policy
from provledger.ledger.witnessed import RECEIPT_TYPE as TLOG_WITNESS

if TYPE_CHECKING:
    from provledger.anchor.evm.verify import CanonicalChain

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2

_STYLE = {CheckStatus.PASSED: "green", CheckStatus.FAILED: "bold red", CheckStatus.UNCHECKED: "yellow"}


@dataclass(frozen=True)
class Verdict:
    """Every check run on one bundle; :attr:`ok` unless one failed."""

    event_id: str | None
    checks: tuple[Check, ...]
    #: What the event states, decoded from its canonical bytes (None when the bundle is unreadable).
    statement: Statement | None = None

    @property
    def ok(self) -> bool:
        return all(check.status is not CheckStatus.FAILED for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "event_id": self.event_id,
            "checks": [{"name": c.name, "status": c.status.value, "detail": c.detail} for c in self.checks],
            "statement": None if self.statement is None else self.statement.to_json(),
        }


def _read_text(path: Path, what: str, remedy: str) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the {what} {path}: {exc}. {remedy}") from exc


def load_trusted_keys(path: Path) -> KeySet:
    """The key set in ``path`` (verifier-key lines or a JSON key set); ConfigurationError if unusable."""
    remedy = "Give the ledger's public keys (GET /v1/keys, or `provledger keys generate` output)."
    text = _read_text(path, "trusted key file", remedy)
    try:
        if text.lstrip().startswith(("[", "{")):
            document = json.loads(text)
            entries = document.get("keys") if isinstance(document, dict) else document
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise VerificationError('a JSON key set is a list of {"key", "valid_from", "valid_until"}')
            return KeySet.from_json(entries)
        lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
        keys = []
        for number, line in lines:
            if line and not line.startswith("#"):
                try:
                    keys.append(VerifierKey.parse(line))
                except (ValueError, VerificationError) as exc:
                    raise VerificationError(f"line {number} is not a C2SP verifier key: {exc}") from exc
        return KeySet.of(keys)
    except (json.JSONDecodeError, VerificationError) as exc:
        raise ConfigurationError(f"the trusted key file {path} is unusable: {exc}. {remedy}") from exc


def read_bundle(path: Path) -> dict[str, Any]:
    """The bundle's JSON object; ConfigurationError if the file is not an evidence bundle at all."""
    remedy = "Fetch it again with GET /v1/events/<event_id>/evidence and save the body unchanged."
    text = _read_text(path, "evidence bundle", remedy)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"the evidence bundle {path} is not JSON ({exc}). {remedy}") from exc
    if not isinstance(document, dict) or document.get("format") != EVIDENCE_FORMAT:
        raise ConfigurationError(f"{path} is not a {EVIDENCE_FORMAT} evidence bundle. {remedy}")
    return document


#: The option that gives ``provledger verify`` what it needs to check each anchor kind's receipts.
VERIFY_OPTIONS: Final = {
    "rfc3161": "--tsa-roots FILE, the PEM roots of the timestamp authorities you trust "
    "(`provledger up` keeps its local TSA's in .provledger/tsa/ca.pem)",
    "witness": "--witness-policy FILE, the witnesses you trust and how many must cosign "
    "(`witness <name> <vkey>` lines from `provledger witness keys`, then `quorum <name>`; "
    "see the README's witness policy section)",
    "evm": "--evm-rpc URL (a JSON-RPC node you choose) or --evm-trusted-block N:HASH (a block you trust), "
    "which place the receipt's block on the canonical chain",
}
#: The receipt type in a bundle that each ``--require`` kind stands for: the one place that maps them.
RECEIPT_TYPES: Final = {"rfc3161": "rfc3161", "witness": TLOG_WITNESS, "evm": "evm"}
#: A witness policy is a few lines per witness; a larger file is not one.
MAX_POLICY_BYTES: Final = 1 << 20


def receipt_types(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The bundle receipt types of ``--require`` kinds (``witness`` is ``tlog-witness``)."""
    return tuple(RECEIPT_TYPES.get(kind, kind) for kind in kinds)


def load_witness_policy(path: Path) -> WitnessPolicy:
    """The policy in ``path``; ConfigurationError naming the file, the line and what to change."""
    remedy = (
        "A policy is `witness <name> <key>` lines (each key as `provledger witness keys` prints it), "
        "optional `group <name> <k>|all|any <members>` lines, and one `quorum <name>` line"
    )
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise ConfigurationError(f"the witness policy {path} is over {MAX_POLICY_BYTES} bytes. {remedy}")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the witness policy {path}: {exc}. {remedy}") from exc
    text = _read_text(path, "witness policy", remedy)
    try:
        return parse_witness_policy(text)
    except ConfigurationError as exc:
        raise ConfigurationError(f"the witness policy {path} is unusable: {exc}. {remedy}") from exc


def required_kinds(text: str | None) -> tuple[str, ...]:
    """The kinds of ``--require a,b``; ConfigurationError naming the known ones for any other name."""
    names = tuple(dict.fromkeys(name.strip() for name in (text or "").split(",") if name.strip()))
    unknown = [name for name in names if name not in VERIFY_OPTIONS]
    if unknown or (text is not None and not names):
        raise ConfigurationError(
            f"unknown anchor kind {', '.join(map(repr, unknown)) or repr(text)}: "
            f"--require takes a comma list of {', '.join(sorted(VERIFY_OPTIONS))}"
        )
    return names


def evm_chain(rpc_url: str | None, trusted_blocks: tuple[str, ...]) -> CanonicalChain | None:
    """Where ``--evm-rpc`` or ``--evm-trusted-block`` say the canonical chain is; None for neither."""
    from provledger.anchor.evm.verify import RpcChain, TrustedBlocks

    if rpc_url is not None and trusted_blocks:
        raise ConfigurationError(
            "pass --evm-rpc or --evm-trusted-block, not both: choose one source of trust"
        )
    if rpc_url is not None:
        return RpcChain(rpc_url)
    return TrustedBlocks.parse(trusted_blocks) if trusted_blocks else None


def receipt_verifiers(
    tsa_roots: Path | None,
    required: tuple[str, ...] = (),
    witness_policy: Path | None = None,
    chain: CanonicalChain | None = None,
) -> dict[str, ReceiptVerifier]:
    """The receipt verifiers the options make, by receipt type; a required kind none can check is an error.

    ``evm`` receipts are always proven offline; without ``chain`` their block's place on the chain
    is unknown, so :func:`check_bundle` reports them unchecked and ``--require evm`` is refused here.
    """
    from provledger.anchor.evm.verify import EvmReceiptVerifier

    verifiers: dict[str, ReceiptVerifier] = {RECEIPT_TYPES["evm"]: EvmReceiptVerifier(chain)}
    if tsa_roots is not None:
        from provledger.anchor.rfc3161.verify import Rfc3161ReceiptVerifier

        verifiers[RECEIPT_TYPES["rfc3161"]] = Rfc3161ReceiptVerifier.from_roots_file(tsa_roots)
    if witness_policy is not None:
        from provledger.anchor.tlog_witness.verify import TlogWitnessReceiptVerifier

        verifiers[RECEIPT_TYPES["witness"]] = TlogWitnessReceiptVerifier(load_witness_policy(witness_policy))
    for kind in required:
        if RECEIPT_TYPES[kind] not in verifiers or (kind == "evm" and chain is None):
            raise ConfigurationError(
                f"--require {kind} needs {VERIFY_OPTIONS[kind]}: a receipt nobody checked proves nothing"
            )
    return verifiers


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


def receipt_times(verifiers: dict[str, ReceiptVerifier]) -> dict[str, ReceiptTime]:
    """How to read the time each receipt type the options can check attests (microseconds).

    ``rfc3161``: a token's ``genTime`` is when a TSA the user trusts saw the anchorer's statement,
    which names a head extending the block; the earliest token of the receipt counts.
    ``tlog-witness``: each policy witness's cosignature states when it saw the shard checkpoint,
    which extends the block; the quorum is the unit of trust, so the latest of the counted
    witnesses' times counts (by then every one of them had cosigned).
    """
    from provledger.anchor.rfc3161.verify import Rfc3161Receipt, Rfc3161ReceiptVerifier, check_response
    from provledger.anchor.tlog_witness.verify import TlogWitnessReceiptVerifier
    from provledger.ledger.witnessed import WitnessReceipt, check_cosignatures

    times: dict[str, ReceiptTime] = {}
    stamper = verifiers.get(RECEIPT_TYPES["rfc3161"])
    if isinstance(stamper, Rfc3161ReceiptVerifier):
        roots = stamper.roots

        def stamped(receipt: Receipt) -> int:
            fields = Rfc3161Receipt.from_receipt(receipt)
            stamps = (check_response(der, fields.statement, roots) for der in fields.responses)
            return min(_micros(stamp.gen_time) for stamp in stamps)

        times[RECEIPT_TYPES["rfc3161"]] = stamped
    witnesses = verifiers.get(RECEIPT_TYPES["witness"])
    if isinstance(witnesses, TlogWitnessReceiptVerifier):
        policy = witnesses.policy

        def cosigned(receipt: Receipt) -> int:
            checkpoint = WitnessReceipt.from_fields(receipt.data).checkpoint
            witnessed = check_cosignatures(checkpoint, policy)
            return max(c.timestamp for c in witnessed.cosignatures) * 1_000_000

        times[RECEIPT_TYPES["witness"]] = cosigned
    return times


def resolve_log_origin(given: str | None, keys: KeySet) -> str:
    """``--log-origin``, else the one name of every trusted key; ConfigurationError saying what to pass."""
    if given is not None:
        if not given or any(c.isspace() for c in given):
            raise ConfigurationError(f"--log-origin {given!r} is not a log origin (one word, no spaces)")
        return given
    derived = origin_of_keys(keys)
    if derived is None:
        names = ", ".join(sorted({repr(k.verifier.name) for k in keys.keys}))
        raise ConfigurationError(
            "verify needs the log origin the bundle must come from, and the trusted keys name "
            f"several ({names}): pass --log-origin ORIGIN, the ledger's PROVLEDGER_LOG_ORIGIN "
            "(its checkpoints' origin line without /shard/<n>, as GET /v1/keys or your operator states it)"
        )
    return derived


def check_event_id(text: str | None) -> str | None:
    """``--event-id`` as a canonical UUID; ConfigurationError for anything else."""
    if text is None:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise ConfigurationError(f"--event-id {text!r} is not a UUID: pass the event id you expect") from exc


def check_bundle(
    document: dict[str, Any],
    trusted_keys: KeySet,
    log_origin: str | None = None,
    *,
    verifiers: dict[str, ReceiptVerifier] | None = None,
    required: tuple[str, ...] = (),
    expected_event_id: str | None = None,
) -> Verdict:
    """Check a bundle from :func:`read_bundle`; fields that disagree fail the ``bundle`` check.

    ``required`` holds ``--require`` kinds (``rfc3161``, ``witness``); ``expected_event_id`` the
    event the user expects. ``log_origin`` None leaves ``log-id`` unchecked: the command always
    gives one.
    """
    event = document.get("event")
    event_id = event.get("event_id") if isinstance(event, dict) else None
    label = event_id if isinstance(event_id, str) else None
    try:
        evidence = Evidence.from_json(document)
    except VerificationError as exc:
        failed: tuple[Check, ...] = (Check("bundle", CheckStatus.FAILED, str(exc)),)
        if expected_event_id is not None:
            failed += (Check("expected-event", CheckStatus.FAILED, "the bundle is unreadable"),)
        return Verdict(label, failed)
    parsed = Check("bundle", CheckStatus.PASSED, f"{EVIDENCE_FORMAT}, fields agree with the header bytes")
    result = verify_evidence(
        evidence,
        trusted_keys,
        log_origin=log_origin,
        event_id_of=canonical_event_id,
        receipt_verifiers=verifiers,
        required_receipts=receipt_types(required),
        expected_event_id=expected_event_id,
        receipt_times=receipt_times(verifiers or {}),
    )
    checks = _unplaced_evm_receipts(result.checks, (verifiers or {}).get(RECEIPT_TYPES["evm"]))
    return Verdict(evidence.event_id, (parsed, *checks), event_statement(evidence.canonical_event))


def _unplaced_evm_receipts(checks: tuple[Check, ...], verifier: ReceiptVerifier | None) -> tuple[Check, ...]:
    """An evm receipt proven only offline is unchecked: its block may be on a chain nobody follows."""
    from provledger.anchor.evm.verify import EvmReceiptVerifier

    if not isinstance(verifier, EvmReceiptVerifier) or verifier.chain is not None:
        return checks
    suffix = f":{RECEIPT_TYPES['evm']}"
    return tuple(
        Check(
            check.name,
            CheckStatus.UNCHECKED,
            f"{check.detail}; whether that block is on the canonical chain is unchecked: "
            f"pass {VERIFY_OPTIONS['evm']}",
        )
        if check.name.endswith(suffix) and check.passed
        else check
        for check in checks
    )


def verify_command(
    bundle: Path,
    trusted_keys: Path,
    *,
    as_json: bool,
    log_origin: str | None,
    tsa_roots: Path | None = None,
    require: tuple[str, ...] = (),
    witness_policy: Path | None = None,
    event_id: str | None = None,
    evm_rpc: str | None = None,
    evm_trusted_blocks: tuple[str, ...] = (),
) -> int:
    """Run the checks and print them; the exit code of the module docstring."""
    console = Console(highlight=False, emoji=False)
    try:
        chain = evm_chain(evm_rpc, evm_trusted_blocks)
        verifiers = receipt_verifiers(tsa_roots, require, witness_policy, chain)
        document = read_bundle(bundle)
        keys = load_trusted_keys(trusted_keys)
        origin = resolve_log_origin(log_origin, keys)
        expected = check_event_id(event_id)
        verdict = check_bundle(
            document, keys, origin, verifiers=verifiers, required=require, expected_event_id=expected
        )
    except ConfigurationError as exc:
        if not as_json:
            raise
        print(json.dumps({"ok": False, "error": str(exc), "checks": []}, indent=2))
        return EXIT_UNREADABLE
    if as_json:
        print(json.dumps({"bundle": str(bundle), "log_origin": origin, **verdict.to_json()}, indent=2))
        return EXIT_OK if verdict.ok else EXIT_FAILED
    if verdict.statement is not None:
        print_statement(console, verdict.statement)
    rows = [(c.name, c.status.value, _STYLE[c.status], c.detail) for c in verdict.checks]
    console.print(check_table(verdict.event_id, rows))
    if verdict.ok:
        console.print(
            Text("verified", style="bold green")
            + Text(": every check that ran passed, against the trusted keys given, for the log ")
            + plain(origin)
        )
        return EXIT_OK
    failed = ", ".join(c.name for c in verdict.checks if c.status is CheckStatus.FAILED)
    console.print(Text("NOT verified", style="bold red") + Text(": failed ") + plain(failed))
    return EXIT_FAILED
