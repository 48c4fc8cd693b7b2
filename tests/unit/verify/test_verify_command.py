"""``provledger verify``: a genuine bundle passes, any flipped bit fails with its reason, bad files exit 2."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.verify_bundles import sealed_bundle

from provledger.cli import main
from provledger.commands.verify import check_bundle, load_trusted_keys
from provledger.events import Event, EventType, Job, Run, canonical_event_bytes
from provledger.ledger.keys import KeySet, SigningKey
from provledger.local.tsa import make_tsa_pki

ORIGIN = "ledger.example.com/log"
KEY = SigningKey.from_seed(ORIGIN, b"\x05" * 32)
SEALED_AT = 1_795_478_400_000_000
RUN = Run("0190f3a0-0000-7000-8000-000000000001")
SEALED_EVENTS = [
    Event.new(EventType.COMPLETE, job=Job("ns", "job"), run=RUN, producer="https://example.com/t")
    for _ in range(7)
]
EVENT_IDS = [uuid.UUID(event.event_id) for event in SEALED_EVENTS]
EVENTS = [canonical_event_bytes(event) for event in SEALED_EVENTS]
LEAF = 4


def _bundle() -> dict[str, Any]:
    """Evidence for leaf 4 of a block sealed by the real sealer core over 7 events."""
    return sealed_bundle(SEALED_EVENTS, KEY, ORIGIN, LEAF, SEALED_AT)


BUNDLE = _bundle()
TRUSTED = KeySet.of([KEY.verifier])


def _flip(document: dict[str, Any], path: tuple[str | int, ...], bit: int) -> dict[str, Any]:
    """A copy of ``document`` with one bit flipped in the base64 bytes at ``path``."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    holder: Any = copy
    for step in path[:-1]:
        holder = holder[step]
    data = bytearray(base64.b64decode(holder[path[-1]]))
    data[bit // 8] ^= 1 << (bit % 8)
    holder[path[-1]] = base64.b64encode(bytes(data)).decode()
    return copy


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    bundle, keys = tmp_path / "evidence.json", tmp_path / "keys.txt"
    bundle.write_text(json.dumps(BUNDLE))
    keys.write_text(f"# the ledger's key\n\n{KEY.verifier.verifier_key_string()}\n")
    return bundle, keys


def test_a_genuine_bundle_verifies(capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]) -> None:
    bundle, keys = files
    code, out, _ = _run(capsys, str(bundle), "--trusted-keys", str(keys), "--log-origin", ORIGIN)
    assert code == 0
    for check in ("bundle", "leaf-in-block", "inclusion", "header-signature", "checkpoint", "event-id"):
        assert check in out
    assert "verified" in out
    assert "unchecked" not in out  # the event id is read out of the canonical bytes themselves


def test_json_output_lists_every_check(capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]) -> None:
    bundle, keys = files
    code, out, _ = _run(capsys, str(bundle), "--trusted-keys", str(keys), "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"bundle", "log_origin", "ok", "event_id", "checks", "statement"}
    assert (report["ok"], report["event_id"], report["bundle"]) == (
        True,
        BUNDLE["event"]["event_id"],
        str(bundle),
    )
    assert [(c["name"], c["status"]) for c in report["checks"]] == [
        ("bundle", "passed"), ("leaf-in-block", "passed"), ("inclusion", "passed"),
        ("header-signature", "passed"), ("key-time", "passed"), ("log-id", "passed"),
        ("checkpoint", "passed"), ("event-id", "passed"),
    ]  # fmt: skip
    assert all(isinstance(c["detail"], str) and c["detail"] for c in report["checks"])


def _failures(document: dict[str, Any]) -> dict[str, str]:
    verdict = check_bundle(document, TRUSTED, ORIGIN)
    assert not verdict.ok
    return {c.name: c.detail for c in verdict.checks if c.status.value == "failed"}


def test_every_bit_of_the_event_and_proof_matters() -> None:
    for bit in range(len(EVENTS[LEAF]) * 8):
        assert "inclusion" in _failures(_flip(BUNDLE, ("event", "canonical"), bit))
    for index in range(len(BUNDLE["inclusion_proof"])):
        for bit in range(256):
            failed = _failures(_flip(BUNDLE, ("inclusion_proof", index), bit))
            assert set(failed) == {"inclusion"}, (index, bit)


def test_every_bit_of_the_header_and_signature_matters() -> None:
    header_size = len(base64.b64decode(BUNDLE["block"]["header"]))
    for bit in range(header_size * 8):
        # The decoded fields beside the header bytes no longer agree with them: the bundle check says so.
        failed = _failures(_flip(BUNDLE, ("block", "header"), bit))
        assert set(failed) == {"bundle"}, bit
    for bit in range(64 * 8):
        failed = _failures(_flip(BUNDLE, ("block", "signature"), bit))
        assert set(failed) == {"header-signature"}, bit
        assert "signature" in failed["header-signature"]


def test_a_tampered_bundle_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]
) -> None:
    bundle, keys = files
    bundle.write_text(json.dumps(_flip(BUNDLE, ("block", "signature"), 9)))
    code, out, _ = _run(capsys, str(bundle), "--trusted-keys", str(keys))
    assert code == 1
    assert "NOT verified" in out
    assert "header-signature" in out
    bundle.write_text(json.dumps(_flip(BUNDLE, ("event", "canonical"), 0)))
    code, out, _ = _run(capsys, str(bundle), "--trusted-keys", str(keys), "--json")
    report = json.loads(out)
    assert (code, report["ok"]) == (1, False)
    # The first byte of the canonical bytes is the event id's length: the id no longer decodes either.
    assert [c["name"] for c in report["checks"] if c["status"] == "failed"] == ["inclusion", "event-id"]


def test_keys_are_trusted_only_from_the_key_file(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]
) -> None:
    bundle, keys = files
    stranger = SigningKey.from_seed("other.example/log", b"\x06" * 32)
    keys.write_text(stranger.verifier.verifier_key_string() + "\n")
    code, out, _ = _run(capsys, str(bundle), "--trusted-keys", str(keys), "--json")
    failed = {c["name"] for c in json.loads(out)["checks"] if c["status"] == "failed"}
    # The stranger's name is taken as the origin (keys of one name), and the block is another log's.
    assert (code, failed) == (1, {"header-signature", "checkpoint", "log-id"})
    # A JSON key set whose validity ends before the block was sealed does not vouch for it.
    keys.write_text(json.dumps([{"key": KEY.verifier.verifier_key_string(), "valid_from": 0,
                                 "valid_until": SEALED_AT}]))  # fmt: skip
    code, out, _ = _run(capsys, str(bundle), "--trusted-keys", str(keys), "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1
    assert "not valid at" in checks["header-signature"]["detail"]
    keys.write_text(json.dumps({"keys": [{"key": KEY.verifier.verifier_key_string(), "valid_from": 0,
                                          "valid_until": None}]}))  # fmt: skip
    assert _run(capsys, str(bundle), "--trusted-keys", str(keys))[0] == 0


@pytest.mark.parametrize(
    ("bundle_text", "keys_text", "message"),
    [
        (None, "KEY", "cannot read the evidence bundle"),
        ("{not json", "KEY", "is not JSON"),
        ('{"format": "something-else"}', "KEY", "is not a provledger-evidence/v1 evidence bundle"),
        ("BUNDLE", None, "cannot read the trusted key file"),
        ("BUNDLE", "# only a comment\n", "the trusted key set is empty"),
        ("BUNDLE", "not-a-key\n", "line 1 is not a C2SP verifier key"),
        ("BUNDLE", "[1, 2]", "JSON key set is a list"),
    ],
)
def test_unreadable_input_exits_2_saying_what_to_do(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    bundle_text: str | None,
    keys_text: str | None,
    message: str,
) -> None:
    bundle, keys = tmp_path / "evidence.json", tmp_path / "keys.txt"
    if bundle_text is not None:
        bundle.write_text(json.dumps(BUNDLE) if bundle_text == "BUNDLE" else bundle_text)
    if keys_text is not None:
        keys.write_text(KEY.verifier.verifier_key_string() if keys_text == "KEY" else keys_text)
    code, _, err = _run(capsys, str(bundle), "--trusted-keys", str(keys))
    said = " ".join(err.split())  # the console wraps long lines
    assert code == 2
    assert message in said
    assert "GET /v1/" in said  # what to do next
    code, out, _ = _run(capsys, str(bundle), "--trusted-keys", str(keys), "--json")
    report = json.loads(out)
    assert (code, report["ok"], report["checks"]) == (2, False, [])
    assert message in report["error"]


def test_loading_keys_accepts_comments_and_key_sets(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"  # a comment\n{KEY.verifier.verifier_key_string()}\n\n")
    assert load_trusted_keys(path) == TRUSTED


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--require", "rfc316"),
            "unknown anchor kind 'rfc316': --require takes a comma list of evm, rfc3161",
        ),
        (("--require", "rfc3161,ethereum"), "unknown anchor kind 'ethereum'"),
        (("--require", ","), "--require takes a comma list of evm, rfc3161"),
        (("--require", "evm"), "--require evm needs --evm-rpc URL"),
        (("--require", "rfc3161"), "--require rfc3161 needs --tsa-roots FILE"),
        (("--tsa-roots", "EMPTY"), "is not a readable PEM certificate list"),
    ],
)
def test_options_that_cannot_check_what_they_ask_exit_2_saying_what_to_give(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path], options: tuple[str, str], message: str
) -> None:
    bundle, keys = files
    empty = bundle.parent / "empty.pem"
    empty.write_text("")
    option, value = options
    code, _, err = _run(
        capsys, str(bundle), "--trusted-keys", str(keys), option, str(empty) if value == "EMPTY" else value
    )
    assert code == 2
    assert message in " ".join(err.split())


def test_an_unanchored_bundle_fails_a_required_kind_and_says_to_fetch_it_again(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, keys = files
    roots = make_tsa_pki(tmp_path / "tsa", "unit").ca_cert  # trusted roots; no receipt here to check
    document = {**BUNDLE, "anchored": False, "next_anchor_due": "2026-12-05T10:00:00+00:00"}
    bundle.write_text(json.dumps(document))
    args = ("--trusted-keys", str(keys), "--tsa-roots", str(roots), "--json")
    code, out, _ = _run(capsys, str(bundle), *args, "--require", "rfc3161")
    policy = {c["name"]: c for c in json.loads(out)["checks"]}["anchor-policy"]
    assert (code, policy["status"]) == (1, "failed")
    assert (
        "the next statement is due at 2026-12-05T10:00:00+00:00): fetch the bundle again" in policy["detail"]
    )
    code, out, _ = _run(capsys, str(bundle), *args)  # nothing required: the bundle proves what it holds
    assert code == 0
