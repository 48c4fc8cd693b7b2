"""End to end: a real ``provledger witness`` cosigns a shard checkpoint, and ``provledger verify`` checks it.

The witness process knows the shard's origin and the sealer's key (its logs file); the test sends
it the sealer-signed checkpoint as the anchorer would, appends the answer's cosignature lines to
the checkpoint (SPEC: C2SP tlog-witness: "the client MAY concatenate it to the checkpoint"), puts
the receipt in a bundle and runs the CLI in a child process, as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.ledger_sealing import LOG_ORIGIN
from tests.helpers.witness_logs import (
    SampleLog,
    WitnessProcess,
    free_witness_port,
    running_witness,
    witness_env,
    witness_key,
)
from tests.helpers.witnessed_bundles import SEALER, SHARD_ORIGIN, bundle, checkpoint_note, witness_receipt

from provledger.ledger.cosignature import cosignature_timestamp, cosigner
from provledger.ledger.keys import SigningKey
from provledger.ledger.note import parse_note
from provledger.ledger.witnessed import rfc3339
from provledger.witness.protocol import format_add_checkpoint, parse_cosignatures


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[WitnessProcess]:
    env = witness_env(tmp_path, [SampleLog(SHARD_ORIGIN, SEALER)], free_witness_port())
    with running_witness(env, tmp_path / "witness.log") as process:
        yield process


def _verify(tmp_path: Path, document: dict[str, Any], policy: str) -> tuple[int, dict[str, dict[str, str]]]:
    """Exit code and checks by name of `provledger verify --witness-policy ... --require witness`."""
    paths = {name: tmp_path / name for name in ("evidence.json", "keys.txt", "witnesses.policy")}
    paths["evidence.json"].write_text(json.dumps(document))
    paths["keys.txt"].write_text(SEALER.verifier.verifier_key_string() + "\n")
    paths["witnesses.policy"].write_text(policy)
    command = [sys.executable, "-m", "provledger", "verify", str(paths["evidence.json"])]
    options = ["--trusted-keys", str(paths["keys.txt"]), "--log-origin", LOG_ORIGIN]
    options += ["--witness-policy", str(paths["witnesses.policy"]), "--require", "witness", "--json"]
    done = subprocess.run([*command, *options], capture_output=True, text=True, timeout=60, check=False)
    report = json.loads(done.stdout)
    return done.returncode, {c["name"]: c for c in report["checks"]}


def test_a_real_witness_cosignature_verifies_one_of_one_and_fails_two_of_two(
    witness: WitnessProcess, tmp_path: Path
) -> None:
    note = checkpoint_note()
    answer = witness.add(format_add_checkpoint(0, [], note))
    assert answer.status_code == 200, answer.text
    (line,) = parse_cosignatures(answer.content, parse_note(note).text)
    cosigned = note + answer.text
    document = bundle(witness_receipt(cosigned))

    published = cosigner(witness_key()).verifier_key_string()  # what `provledger witness keys` prints
    one_of_one = f"# our one witness\nwitness participant-1 {published}\nquorum participant-1\n"
    code, checks = _verify(tmp_path, document, one_of_one)
    assert code == 0, checks
    when = rfc3339(cosignature_timestamp(line.signature))
    assert (
        f"cosigned by participant-1 ({witness_key().name}) at {when}"
        in checks["receipt[0]:tlog-witness"]["detail"]
    )
    assert checks["anchor-policy"]["status"] == "passed"

    absent = cosigner(SigningKey.generate("witness.test/w2")).verifier_key_string()
    two_of_two = (
        f"witness participant-1 {published}\nwitness participant-2 {absent}\n"
        "group participants all participant-1 participant-2\nquorum participants\n"
    )
    code, checks = _verify(tmp_path, document, two_of_two)
    assert code == 1
    failed = {name: c["detail"] for name, c in checks.items() if c["status"] == "failed"}
    assert "quorum 'participants' not met" in failed["receipt[0]:tlog-witness"]
    assert "missing participant-2" in failed["receipt[0]:tlog-witness"]
    assert failed["anchor-policy"] == "missing verified receipts of type ['tlog-witness']"
