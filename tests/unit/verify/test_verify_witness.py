"""``provledger verify --witness-policy FILE --require witness``: the CLI over bundles with witness receipts.

The bundles are :mod:`tests.helpers.witnessed_bundles`' (real events in two blocks of shard 2,
tree sizes 7 and 12, the event in the first): the ``tlog-witness`` receipt carries the checkpoint
at 12 cosigned as each test says; the ``rfc3161`` receipt a local TSA's token over an anchorer
statement naming the second block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder
from tests.helpers.anchor_links import link, linked_receipt, statement
from tests.helpers.ledger_sealing import LOG_ORIGIN, fixed_key
from tests.helpers.witnessed_bundles import SEALER, SHARD, bundle, cosigned_receipt

from provledger.anchor.rfc3161.verify import Rfc3161Receipt, accept_answer, load_roots
from provledger.cli import main
from provledger.ledger.cosignature import cosigner
from provledger.ledger.evidence import Receipt
from provledger.local.tsa import make_tsa_pki, openssl_reply

ANCHORER = fixed_key("anchorer.example.com", seed=9)
W1, W2 = fixed_key("w1.example/witness", seed=21), fixed_key("w2.example/witness", seed=22)
#: 2026-12-01T00:00:00Z.
T = 1_796_083_200


def policy(*names: str, quorum: str) -> str:
    keys = {"w1": W1, "w2": W2}
    lines = [f"witness {name} {cosigner(keys[name]).verifier_key_string()}" for name in names]
    return "\n".join(["# the federation's witnesses", *lines, quorum, ""])


@dataclass(frozen=True)
class Files:
    folder: Path
    keys: Path
    one_of_one: Path
    two_of_two: Path
    roots: Path

    def bundle(self, *receipts: Receipt) -> Path:
        path = self.folder / f"evidence-{len(receipts)}-{'-'.join(r.type for r in receipts)}.json"
        path.write_text(json.dumps(bundle(*receipts)))
        return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("verify-witness")
    keys = folder / "keys.txt"
    keys.write_text(f"{SEALER.verifier.verifier_key_string()}\n{ANCHORER.verifier.verifier_key_string()}\n")
    one, two = folder / "one.policy", folder / "two.policy"
    one.write_text(policy("w1", quorum="quorum w1"))
    two.write_text(policy("w1", "w2", quorum="group both all w1 w2\nquorum both"))
    tsa = make_tsa_pki(folder / "tsa", "unit")
    return Files(folder, keys, one, two, tsa.ca_cert)


@pytest.fixture(scope="module")
async def rfc3161_receipt(files: Files) -> Receipt:
    """A local TSA's token over an anchorer statement naming block 1, linked to the bundle's block 0."""
    note = statement([(SHARD, 1)], ANCHORER)
    request = TimestampRequestBuilder().data(note.encode()).hash_algorithm(HashAlgorithm.SHA256).build()
    assert request.nonce is not None
    answer = await openssl_reply(make_tsa_pki(files.folder / "tsa", "unit"), request.as_bytes())
    token = accept_answer(answer, note, load_roots(files.roots), request.nonce)
    return linked_receipt("rfc3161", note, link(SHARD, 0, 1), **Rfc3161Receipt(note, (token,)).to_json())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def checks(out: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(out)["checks"]}


def test_one_of_one_verifies_and_reports_the_cosignature_time(
    capsys: pytest.CaptureFixture[str], files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = files.bundle(cosigned_receipt((W1, T)))
    common = [str(path), "--trusted-keys", str(files.keys), "--log-origin", LOG_ORIGIN]
    code, out, _ = run(
        capsys, *common, "--witness-policy", str(files.one_of_one), "--require", "witness", "--json"
    )
    assert code == 0, out
    report = checks(out)
    assert report["receipt[0]:tlog-witness"]["status"] == "passed"
    assert (
        "cosigned by w1 (w1.example/witness) at 2026-12-01T00:00:00Z"
        in report["receipt[0]:tlog-witness"]["detail"]
    )
    assert report["anchor-policy"]["status"] == "passed"
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run(capsys, *common, "--witness-policy", str(files.one_of_one), "--require", "witness")
    assert code == 0
    assert "w1 (w1.example/witness) at 2026-12-01T00:00:00Z" in out
    assert "verified" in out


def test_two_of_two_fails_when_one_witness_did_not_cosign(
    capsys: pytest.CaptureFixture[str], files: Files
) -> None:
    path = files.bundle(cosigned_receipt((W1, T)))
    args = [
        str(path),
        "--trusted-keys",
        str(files.keys),
        "--log-origin",
        LOG_ORIGIN,
        "--witness-policy",
        str(files.two_of_two),
    ]
    code, out, _ = run(capsys, *args, "--require", "witness", "--json")
    assert code == 1
    detail = checks(out)["receipt[0]:tlog-witness"]["detail"]
    assert "quorum 'both' not met (it needs 2 of w1, w2): cosigned by w1; missing w2" in detail
    both = files.bundle(cosigned_receipt((W1, T), (W2, T + 3)))
    code, out, _ = run(capsys, str(both), *args[1:], "--require", "witness", "--json")
    assert code == 0, out
    assert (
        "w1 (w1.example/witness) at 2026-12-01T00:00:00Z, w2 (w2.example/witness) at 2026-12-01T00:00:03Z"
        in out
    )


def test_require_witness_without_a_policy_is_a_usage_error_that_says_what_to_pass(
    capsys: pytest.CaptureFixture[str], files: Files
) -> None:
    path = files.bundle(cosigned_receipt((W1, T)))
    code, _, err = run(
        capsys,
        str(path),
        "--trusted-keys",
        str(files.keys),
        "--log-origin",
        LOG_ORIGIN,
        "--require",
        "witness",
    )
    assert code == 2
    assert "--require witness needs --witness-policy FILE" in err
    assert "provledger witness keys" in err
    code, out, _ = run(
        capsys,
        str(path),
        "--trusted-keys",
        str(files.keys),
        "--log-origin",
        LOG_ORIGIN,
        "--require",
        "witness",
        "--json",
    )
    assert code == 2
    assert "--witness-policy FILE" in json.loads(out)["error"]


async def test_require_rfc3161_and_witness_together(
    capsys: pytest.CaptureFixture[str], files: Files, rfc3161_receipt: Receipt
) -> None:
    both = files.bundle(rfc3161_receipt, cosigned_receipt((W1, T)))
    options = ["--tsa-roots", str(files.roots), "--witness-policy", str(files.one_of_one)]
    common = [str(both), "--trusted-keys", str(files.keys), "--log-origin", LOG_ORIGIN, "--json"]
    code, out, _ = run(capsys, *common, *options, "--require", "rfc3161,witness")
    assert code == 0, out
    report = checks(out)
    assert report["receipt[0]:rfc3161"]["status"] == report["receipt[1]:tlog-witness"]["status"] == "passed"
    # Missing one of the two kinds fails closed, naming the receipt type.
    only_tsa = files.bundle(rfc3161_receipt)
    code, out, _ = run(capsys, str(only_tsa), *common[1:], *options, "--require", "witness,rfc3161")
    assert code == 1
    assert checks(out)["anchor-policy"]["detail"] == "missing verified receipts of type ['tlog-witness']"
    # Each required kind needs its own option.
    code, _, err = run(
        capsys, *common[:-1], "--witness-policy", str(files.one_of_one), "--require", "rfc3161,witness"
    )
    assert (code, "--require rfc3161 needs --tsa-roots FILE" in err) == (2, True)


def test_a_policy_alone_checks_witness_receipts_without_requiring_them(
    capsys: pytest.CaptureFixture[str], files: Files
) -> None:
    options = [
        "--trusted-keys",
        str(files.keys),
        "--log-origin",
        LOG_ORIGIN,
        "--witness-policy",
        str(files.one_of_one),
        "--json",
    ]
    code, out, _ = run(capsys, str(files.bundle(cosigned_receipt((W2, T)))), *options)
    assert code == 1  # a receipt that is checked and fails is a failure, required or not
    assert "quorum 'w1' not met" in checks(out)["receipt[0]:tlog-witness"]["detail"]
    code, out, _ = run(capsys, str(files.bundle()), *options)
    assert code == 0
    assert "anchor-policy" not in checks(out)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("witness w1 nonsense\nquorum w1\n", "witness policy line 1: witness 'w1' key is not"),
        (policy("w1", quorum=""), "has no quorum line"),
        (policy("w1", quorum="quorum none"), "'quorum none' requires no cosignature"),
        (policy("w1", quorum="group g 2 w1\nquorum g"), "line 3: group 'g' threshold '2' is out of range"),
    ],
)
def test_an_unusable_policy_exits_2_naming_file_line_and_fix(
    capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path, text: str, reason: str
) -> None:
    bad = tmp_path / "bad.policy"
    bad.write_text(text)
    path = files.bundle(cosigned_receipt((W1, T)))
    code, _, err = run(
        capsys,
        str(path),
        "--trusted-keys",
        str(files.keys),
        "--log-origin",
        LOG_ORIGIN,
        "--witness-policy",
        str(bad),
    )
    assert code == 2
    assert f"the witness policy {bad} is unusable" in " ".join(err.split())
    assert reason in err
    assert "provledger witness keys" in err


def test_a_missing_or_huge_policy_file_exits_2(
    capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path
) -> None:
    path = files.bundle()
    code, _, err = run(
        capsys,
        str(path),
        "--trusted-keys",
        str(files.keys),
        "--log-origin",
        LOG_ORIGIN,
        "--witness-policy",
        str(tmp_path / "no"),
    )
    assert (code, "cannot read the witness policy" in err) == (2, True)
    huge = tmp_path / "huge.policy"
    huge.write_bytes(b"#" * ((1 << 20) + 1))
    code, _, err = run(
        capsys,
        str(path),
        "--trusted-keys",
        str(files.keys),
        "--log-origin",
        LOG_ORIGIN,
        "--witness-policy",
        str(huge),
    )
    assert (code, "is over 1048576 bytes" in err) == (2, True)


def test_an_unknown_kind_names_the_known_ones(capsys: pytest.CaptureFixture[str], files: Files) -> None:
    code, _, err = run(
        capsys, str(files.bundle()), "--trusted-keys", str(files.keys), "--require", "witnesses"
    )
    assert code == 2
    assert "rfc3161, witness" in err


def _retired_keys(files: Files, end: int) -> Path:
    """A JSON key set whose sealer key was retired at ``end`` (the anchorer's still current)."""
    path = files.folder / f"retired-{end}.json"
    path.write_text(json.dumps([
        {"key": SEALER.verifier.verifier_key_string(), "valid_from": 0, "valid_until": end},
        {"key": ANCHORER.verifier.verifier_key_string(), "valid_from": 0, "valid_until": None},
    ]))  # fmt: skip
    return path


def test_a_retired_keys_block_needs_a_witnessed_time_before_the_key_ended(
    capsys: pytest.CaptureFixture[str], files: Files
) -> None:
    path = files.bundle(cosigned_receipt((W1, T)))
    options = ["--log-origin", LOG_ORIGIN, "--witness-policy", str(files.one_of_one), "--json"]
    code, out, _ = run(
        capsys, str(path), "--trusted-keys", str(_retired_keys(files, T * 10**6 + 1)), *options
    )
    assert code == 0, out
    assert "attests the block existed at" in checks(out)["key-time"]["detail"]
    # Cosigned exactly at the end: the block may have been signed after the key retired.
    code, out, _ = run(capsys, str(path), "--trusted-keys", str(_retired_keys(files, T * 10**6)), *options)
    assert code == 1
    assert "can backdate" in checks(out)["key-time"]["detail"]


def test_a_retired_keys_block_is_covered_by_an_rfc3161_time_only_before_the_key_ended(
    capsys: pytest.CaptureFixture[str], files: Files, rfc3161_receipt: Receipt
) -> None:
    path = files.bundle(rfc3161_receipt)
    options = ["--log-origin", LOG_ORIGIN, "--tsa-roots", str(files.roots), "--json"]
    far = _retired_keys(files, (T + 10 * 365 * 86_400) * 10**6)  # retired ten years after the token
    code, out, _ = run(capsys, str(path), "--trusted-keys", str(far), *options)
    assert code == 0, out
    assert "receipt[0]:rfc3161 attests" in checks(out)["key-time"]["detail"]
    # Retired a second after the block's sealed_at: the token, made later, does not cover it.
    sealed_at = json.loads(path.read_text())["block"]["sealed_at"]
    code, out, _ = run(
        capsys, str(path), "--trusted-keys", str(_retired_keys(files, sealed_at + 10**6)), *options
    )
    assert code == 1
    assert f"retired at {sealed_at + 10**6}" in checks(out)["key-time"]["detail"]
