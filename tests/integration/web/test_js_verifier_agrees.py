"""The page's JavaScript verifier and ``provledger verify`` agree on real bundles, valid and tampered.

Bundles come from the ledger core (:mod:`tests.helpers.tampered_bundles`), with an RFC 3161 token
from a real local TSA and cosignatures of two witness keys. ``provledger verify`` runs with the
TSA's roots and the witness policy, so it checks every receipt it can; the JavaScript verifier
(``tests/js/verify_cli.mjs``, the same modules the browser loads, run by Node) checks the links and
cosignatures and leaves the token to ``provledger verify``. Both must pass every valid bundle and
fail every tampered one, on the same check first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.helpers import witnessed_bundles as witnessed
from tests.helpers.ledger_sealing import LOG_ORIGIN
from tests.helpers.tampered_bundles import (
    ANCHORER,
    SEALER,
    STRANGER,
    dump,
    js_verdicts,
    keys_text,
    policy_text,
    python_verdicts,
    valid_bundles,
)
from tests.helpers.tampered_bundles import cases as every_case
from tests.integration.web.conftest import Stamped

#: The event of the bundles, and another event of the same shard.
BUNDLED_EVENT, OTHER_EVENT = witnessed.EVENTS[witnessed.LEAF].event_id, witnessed.EVENTS[0].event_id


def both_verdicts(
    files: list[Path],
    keys: Path,
    origin: str,
    roots: Path,
    policy: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``provledger verify`` (with the TSA's roots and the policy) and the page's verifier on each file."""
    trust = ["--trusted-keys", str(keys), "--log-origin", origin, "--witness-policy", str(policy), *extra]
    return python_verdicts(files, [*trust, "--tsa-roots", str(roots)], capsys), js_verdicts(files, trust)


def first_failure_py(report: dict[str, Any]) -> str | None:
    return next((c["name"] for c in report["checks"] if c["status"] == "failed"), None)


def first_failure_js(verdict: dict[str, Any]) -> str | None:
    return next((c["name"] for c in verdict["checks"] if c["ok"] is False), None)


async def test_both_verifiers_pass_valid_bundles_and_fail_tampered_ones_on_the_same_check(
    stamped: Stamped, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = every_case(stamped.token)
    files = []
    for number, (bundle, _) in enumerate(cases.values()):
        files.append(tmp_path / f"bundle-{number}.json")
        files[-1].write_text(dump(bundle))
    keys, policy = tmp_path / "keys.txt", tmp_path / "witnesses.txt"
    keys.write_text(keys_text(SEALER, ANCHORER))
    policy.write_text(policy_text())

    py, js = both_verdicts(files, keys, LOG_ORIGIN, stamped.roots_file, policy, capsys)

    for (name, (_, expected)), report, verdict in zip(cases.items(), py, js, strict=True):
        assert first_failure_py(report) == expected, (name, report)
        assert first_failure_js(verdict) == expected, (name, verdict)
        assert verdict["status"] == ("verified" if expected is None else "failed"), (name, verdict)
        if expected is not None:
            assert verdict["reason"].startswith(f"{expected}: "), (name, verdict)
    anchored = js[list(cases).index("anchored")]
    assert [(r["type"], r["status"]) for r in anchored["receipts"]] == [
        ("rfc3161", "unchecked"),
        ("tlog-witness", "verified"),
    ], anchored
    assert "provledger verify --tsa-roots" in anchored["receipts"][0]["detail"]


@pytest.mark.parametrize(
    ("origin", "trusted", "extra", "expected"),
    [
        ("other.example/log", (SEALER, ANCHORER), (), "log-id"),
        (LOG_ORIGIN, (STRANGER, ANCHORER), (), "header-signature"),
        (LOG_ORIGIN, (SEALER,), (), "receipt[0]:rfc3161"),
        (LOG_ORIGIN, (SEALER, ANCHORER), ("--event-id", BUNDLED_EVENT), None),
        (LOG_ORIGIN, (SEALER, ANCHORER), ("--event-id", OTHER_EVENT), "expected-event"),
    ],
    ids=["wrong origin", "another key", "no anchorer key", "its event", "another event"],
)
async def test_both_verifiers_judge_a_valid_bundle_by_the_trust_and_event_given(
    stamped: Stamped,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    origin: str,
    trusted: tuple[Any, ...],
    extra: tuple[str, ...],
    expected: str | None,
) -> None:
    file, keys, policy = tmp_path / "bundle.json", tmp_path / "keys.txt", tmp_path / "witnesses.txt"
    file.write_text(dump(valid_bundles(stamped.token)["anchored"]))
    keys.write_text(keys_text(*trusted))
    policy.write_text(policy_text())
    ((report,), (verdict,)) = both_verdicts([file], keys, origin, stamped.roots_file, policy, capsys, extra)
    assert first_failure_py(report) == expected, report
    assert first_failure_js(verdict) == expected, verdict
    assert verdict["status"] == ("verified" if expected is None else "failed")
