"""Valid and tampered evidence bundles, to check the page's JavaScript verifier against ``provledger verify``.

The bundles are real: events sealed by the ledger core into two blocks of shard 2
(:mod:`tests.helpers.witnessed_bundles`), a ``tlog-witness`` receipt cosigned by two witness keys,
and an ``rfc3161`` receipt whose statement the anchorer's key signed, linked to the newer block,
with a token from a real TSA. Each tamper changes one thing and names the check that must fail
first, as ``provledger verify`` names its checks. :func:`python_verdicts` and :func:`js_verdicts`
run files through ``provledger verify`` and through the page's verifier in Node.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provledger.cli import main
from provledger.ledger.cosignature import cosigner
from provledger.ledger.evidence import Receipt
from tests.helpers import witnessed_bundles as witnessed
from tests.helpers.anchor_links import link, linked_receipt, statement
from tests.helpers.ledger_sealing import LOG_ORIGIN, fixed_key

#: The page's verifier on the command line.
VERIFY_CLI = Path(__file__).parents[2] / "tests" / "js" / "verify_cli.mjs"
SEALER = witnessed.SEALER
ANCHORER = fixed_key(f"{LOG_ORIGIN}/anchorer", seed=2)
WITNESSES = (fixed_key("w1.example/witness", seed=7), fixed_key("w2.example/witness", seed=8))
#: A key nobody should trust: it signed nothing here.
STRANGER = fixed_key(LOG_ORIGIN, seed=9)
#: 2026-12-01T00:00:00Z and 100 s later: when the witnesses cosigned.
COSIGNED_AT = (1796083200, 1796083300)

Bundle = dict[str, Any]


def keys_text(*keys: Any) -> str:
    """A trusted-keys file of the given signing keys' verifier keys."""
    return "".join(key.verifier.verifier_key_string() + "\n" for key in keys)


def policy_text() -> str:
    """A 2-of-2 witness policy of :data:`WITNESSES`."""
    lines = [f"witness w{i} {cosigner(key).verifier_key_string()}\n" for i, key in enumerate(WITNESSES)]
    return "".join(lines) + "group both all w0 w1\nquorum both\n"


def anchored_statement() -> str:
    """The anchorer's shard-heads statement naming block 1 of shard 2."""
    return statement([(witnessed.SHARD, 1)], ANCHORER)


def rfc3161_receipt(token: bytes) -> Receipt:
    """An ``rfc3161`` receipt of :func:`anchored_statement` holding ``token``, linked from block 0."""
    responses = [base64.b64encode(token).decode()]
    return linked_receipt("rfc3161", anchored_statement(), link(witnessed.SHARD, 0, 1), responses=responses)


def witness_receipt() -> Receipt:
    """The ``tlog-witness`` receipt both witnesses cosigned."""
    return witnessed.cosigned_receipt(*zip(WITNESSES, COSIGNED_AT, strict=True))


def valid_bundles(token: bytes) -> dict[str, Bundle]:
    """Bundles that verify: bare, witnessed, timestamped, and both."""
    return {
        "plain": witnessed.bundle(),
        "witnessed": witnessed.bundle(witness_receipt()),
        "timestamped": witnessed.bundle(rfc3161_receipt(token)),
        "anchored": witnessed.bundle(rfc3161_receipt(token), witness_receipt()),
    }


def _flip_b64(text: str, at: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _flip_note_signature(note: str, line: int) -> str:
    """The note with one byte of its ``line``-th signature line's signature flipped."""
    text, _, block = note.rpartition("\n\n")
    lines = block.rstrip("\n").split("\n")
    head, _, payload = lines[line].rpartition(" ")
    lines[line] = f"{head} {_flip_b64(payload, 20)}"
    return f"{text}\n\n" + "\n".join(lines) + "\n"


def _header_byte(bundle: Bundle) -> None:
    """Flip a byte of ``batch_root`` in the header and its decoded field, so only the signature fails."""
    header = bytearray(base64.b64decode(bundle["block"]["header"]))
    header[70] ^= 0x01
    bundle["block"]["header"] = base64.b64encode(bytes(header)).decode()
    bundle["block"]["batch_root"] = base64.b64encode(bytes(header[66:98])).decode()


def _receipt(bundle: Bundle, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in bundle["receipts"] if r["type"] == kind)
    return found


def _set(path: tuple[str, ...], change: Callable[[Any], Any]) -> Callable[[Bundle], None]:
    def apply(bundle: Bundle) -> None:
        holder = bundle
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = change(holder[path[-1]])

    return apply


@dataclass(frozen=True)
class Tamper:
    """One change to the ``anchored`` bundle, and the check ``provledger verify`` fails first for it."""

    name: str
    change: Callable[[Bundle], None]
    first_failure: str

    def apply(self, bundle: Bundle) -> Bundle:
        changed = copy.deepcopy(bundle)
        self.change(changed)
        return changed


def _statement(bundle: Bundle) -> None:
    receipt = _receipt(bundle, "rfc3161")
    receipt["statement"] = _flip_note_signature(receipt["statement"], 0)


def _cosignature(bundle: Bundle) -> None:
    receipt = _receipt(bundle, "tlog-witness")
    receipt["checkpoint"] = _flip_note_signature(receipt["checkpoint"], 2)


def _only_format(bundle: Bundle) -> None:
    bundle.clear()
    bundle["format"] = "provledger-evidence/v1"


def _link_proof(bundle: Bundle) -> None:
    proof = _receipt(bundle, "rfc3161")["link"]["consistency_proof"]
    proof[0] = _flip_b64(proof[0], 3)


TAMPERS = (
    Tamper("event byte", _set(("event", "canonical"), lambda t: _flip_b64(t, 30)), "inclusion"),
    Tamper(
        "event id label",
        _set(("event", "event_id"), lambda t: t[:-1] + ("0" if t[-1] != "0" else "1")),
        "event-id",
    ),
    Tamper("proof hash", _set(("inclusion_proof",), lambda p: [_flip_b64(p[0], 5), *p[1:]]), "inclusion"),
    Tamper("proof too long", _set(("inclusion_proof",), lambda p: p * 40), "inclusion"),
    Tamper("leaf index", _set(("leaf_index",), lambda i: i + 1), "inclusion"),
    Tamper("leaf outside block", _set(("leaf_index",), lambda i: 9), "leaf-in-block"),
    Tamper("header byte, fields left", _set(("block", "header"), lambda t: _flip_b64(t, 70)), "bundle"),
    Tamper("header byte", _header_byte, "header-signature"),
    Tamper("header signature", _set(("block", "signature"), lambda t: _flip_b64(t, 9)), "header-signature"),
    Tamper("checkpoint signature", _set(("checkpoint",), lambda n: _flip_note_signature(n, 0)), "checkpoint"),
    Tamper(
        "checkpoint origin",
        _set(("checkpoint",), lambda n: n.replace("/shard/2\n", "/shard/3\n", 1)),
        "checkpoint",
    ),
    Tamper("statement", _statement, "receipt[0]:rfc3161"),
    Tamper("link consistency proof", _link_proof, "receipt[0]:rfc3161"),
    Tamper("cosignature", _cosignature, "receipt[1]:tlog-witness"),
    Tamper("receipt not an object", _set(("receipts",), lambda r: [*r, 7]), "bundle"),
    Tamper("bad base64", _set(("event", "canonical"), lambda t: t + "="), "bundle"),
    Tamper("missing field", lambda b: b.pop("checkpoint"), "bundle"),
    Tamper("wrong type", _set(("tree_size",), lambda n: str(n)), "bundle"),
    Tamper("not a bundle at all", _only_format, "bundle"),
)


def cases(token: bytes) -> dict[str, tuple[Bundle, str | None]]:
    """Every valid bundle (expected to fail nothing) and every tamper of ``anchored``, by name."""
    valid = valid_bundles(token)
    named: dict[str, tuple[Bundle, str | None]] = {name: (bundle, None) for name, bundle in valid.items()}
    named.update({f"tampered {t.name}": (t.apply(valid["anchored"]), t.first_failure) for t in TAMPERS})
    return named


def dump(bundle: Bundle) -> str:
    """The bundle as a file's text."""
    return json.dumps(bundle, indent=2)


def node() -> str:
    """The ``node`` executable, or a skip saying why the test cannot run."""
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the page's verifier needs Node 20+ to run outside a browser")
    return found


def python_verdicts(
    files: list[Path], options: list[str], capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    """``provledger verify --json <options>`` of each file, its exit code checked against its report."""
    verdicts = []
    for file in files:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["verify", str(file), *options, "--json"])
        report: dict[str, Any] = json.loads(capsys.readouterr().out)
        assert exited.value.code == (0 if report["ok"] else 1), report
        verdicts.append(report)
    return verdicts


def js_verdicts(files: list[Path], options: list[str]) -> list[dict[str, Any]]:
    """The page's verifier's verdict of each file (``tests/js/verify_cli.mjs <options>``, run by Node)."""
    result = subprocess.run(
        [node(), str(VERIFY_CLI), *options, *map(str, files)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]
