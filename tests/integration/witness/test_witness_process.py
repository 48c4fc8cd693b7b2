"""``provledger witness`` as a federation participant runs it: a real process, real HTTP, its SQLite file.

Every answer is checked the way a log's client reads it: cosignatures through a note verifier
configured with the witness's published key, 409 bodies as ``text/x.tlog.size``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.helpers.ledger_sealing import fixed_key
from tests.helpers.witness_logs import (
    SampleLog,
    WitnessProcess,
    free_witness_port,
    running_witness,
    witness_env,
    witness_key,
)

from provledger.ledger.cosignature import CosignatureVerifier, cosignature_timestamp, cosigner
from provledger.ledger.note import open_note
from provledger.witness.protocol import (
    ADD_CHECKPOINT_PATH,
    MAX_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    checkpoint_path,
    format_add_checkpoint,
)

LOG_NAME = "ledger.test/log"


@pytest.fixture
def log() -> SampleLog:
    return SampleLog(f"{LOG_NAME}/shard/0", fixed_key(LOG_NAME, seed=5)).grow(16)


@pytest.fixture
def other_log() -> SampleLog:
    return SampleLog(f"{LOG_NAME}/shard/1", fixed_key(LOG_NAME, seed=5)).grow(4)


@pytest.fixture
def witness(tmp_path: Path, log: SampleLog, other_log: SampleLog) -> Iterator[WitnessProcess]:
    env = witness_env(tmp_path, [log, other_log], free_witness_port())
    with running_witness(env, tmp_path / "witness.log") as process:
        yield process


def _verifier() -> CosignatureVerifier:
    """The witness's key as its operator publishes it (`provledger witness keys`)."""
    return CosignatureVerifier.parse(cosigner(witness_key()).verifier_key_string())


def _cosignature_time(answer: httpx.Response, note: str) -> int:
    assert answer.status_code == 200, answer.text
    opened = open_note(note + answer.text, [_verifier()])
    return cosignature_timestamp(opened.verified[0].signature)


def test_cosignatures_verify_and_monitors_read_the_latest(witness: WitnessProcess, log: SampleLog) -> None:
    first = _cosignature_time(witness.add(log.request(0, 4)), log.checkpoint(4))
    later = _cosignature_time(witness.add(log.request(4, 16)), log.checkpoint(16))
    assert 0 < first <= later
    read = httpx.get(witness.url + checkpoint_path(log.origin), timeout=5)
    assert read.status_code == 200
    # The log's signature the witness verified, and its own cosignature: a standard signed note.
    opened = open_note(read.text, [log.key.verifier, _verifier()])
    assert [s.name for s in opened.verified] == [log.key.name, witness_key().name]
    assert opened.text == log.checkpoint(16).split("\n\n")[0] + "\n"
    assert httpx.get(witness.url + checkpoint_path("nobody"), timeout=5).status_code == 404


def test_refusals_carry_the_spec_status_codes(
    witness: WitnessProcess, log: SampleLog, other_log: SampleLog
) -> None:
    assert witness.add(log.request(0, 4)).status_code == 200
    stale = witness.add(log.request(0, 16))
    assert (stale.status_code, stale.text, stale.headers["content-type"]) == (409, "4\n", SIZE_CONTENT_TYPE)
    unknown = SampleLog("ledger.test/unknown", log.key).grow(2)
    assert witness.add(unknown.request(0)).status_code == 404
    impostor = fixed_key(LOG_NAME, seed=6)
    assert witness.add(format_add_checkpoint(0, [], other_log.checkpoint(key=impostor))).status_code == 403
    assert witness.add(b"old 04\n\n" + log.checkpoint().encode()).status_code == 400
    assert witness.add(format_add_checkpoint(16, [], log.checkpoint(4))).status_code == 400  # old > size
    too_many = b"old 4\n" + b"".join(b"%s\n" % (b"A" * 43 + b"=") for _ in range(MAX_PROOF_LINES + 1))
    answer = witness.add(too_many + b"\n" + log.checkpoint().encode())
    assert answer.status_code == 400
    assert "more than 63" in answer.text
    assert httpx.get(witness.url + ADD_CHECKPOINT_PATH, timeout=5).status_code == 405
    assert httpx.get(witness.url + checkpoint_path(log.origin), timeout=5).text.count("\u2014") == 2


def test_a_huge_body_is_refused_early(witness: WitnessProcess, log: SampleLog) -> None:
    huge = b"old 0\n" + b"A" * (8 << 20)
    assert witness.add(huge).status_code == 413  # by its Content-Length

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b"old 0\n"
        for _ in range(1024):
            yield b"A" * 8192

    answer = httpx.post(witness.url + ADD_CHECKPOINT_PATH, content=chunks(), timeout=10)
    assert answer.status_code == 413
    # The witness is none the worse.
    assert witness.add(log.request(0, 4)).status_code == 200


def test_an_inconsistent_checkpoint_is_refused_by_proof_and_by_replay(
    witness: WitnessProcess, log: SampleLog, tmp_path: Path
) -> None:
    assert witness.add(log.request(0, 8)).status_code == 200
    fork = log.fork(5).grow(11, tag=b"fork")
    # By proof: the fork's checkpoint at 16 with the proof a forked log can give from 8.
    refused = witness.add(fork.request(8, 16))
    assert refused.status_code == 422
    # By replay: an older checkpoint of the genuine log, with its own size or with the witness's.
    assert witness.add(log.request(0, 5)).status_code == 409
    assert witness.add(format_add_checkpoint(8, [], log.checkpoint(5))).status_code == 400
    # The genuine log still advances; the fork's evidence is in the state file.
    assert witness.add(log.request(8, 16)).status_code == 200
    with contextlib.closing(sqlite3.connect(tmp_path / "witness.sqlite3")) as conn:
        rows = conn.execute(
            "SELECT origin, old_size, proof, submitted_note, latest_note FROM conflicts"
        ).fetchall()
    assert len(rows) == 1
    origin, old_size, proof, submitted, latest = rows[0]
    assert (origin, old_size, submitted) == (log.origin, 8, fork.checkpoint(16))
    assert len(proof.split()) == len(fork.proof(8, 16))
    assert latest.startswith(log.checkpoint(8).split("\n\n")[0])


async def _submit_all(url: str, bodies: list[bytes]) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as client:
        answers = await asyncio.gather(*(client.post(url + ADD_CHECKPOINT_PATH, content=b) for b in bodies))
    return [answer.status_code for answer in answers]


def _conflicting(log: SampleLog, forks: int) -> list[bytes]:
    """From size 4: the genuine log's checkpoint and ``forks`` forks', each at 6 to 16."""
    branches = [log] + [log.fork(4).grow(12, tag=b"fork %d" % i) for i in range(forks)]
    return [branch.request(4, size) for branch in branches for size in (6, 11, 16)]


async def test_concurrent_conflicting_submissions_cosign_only_one(
    witness: WitnessProcess, log: SampleLog
) -> None:
    assert witness.add(log.request(0, 4)).status_code == 200
    statuses = await _submit_all(witness.url, _conflicting(log, forks=5))
    assert sorted(statuses) == [200] + [409] * 17


async def test_two_witness_processes_on_one_state_file_cosign_only_one(
    tmp_path: Path, log: SampleLog
) -> None:
    """Across processes the asyncio lock does nothing: the state file's compare-and-set decides."""
    state = tmp_path / "shared.sqlite3"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env_a = witness_env(tmp_path / "a", [log], free_witness_port(), state)
    env_b = witness_env(tmp_path / "b", [log], free_witness_port(), state)
    with running_witness(env_a, tmp_path / "a.log") as a, running_witness(env_b, tmp_path / "b.log") as b:
        assert a.add(log.request(0, 4)).status_code == 200
        bodies = _conflicting(log, forks=3)
        statuses = await asyncio.gather(_submit_all(a.url, bodies), _submit_all(b.url, bodies))
        assert sorted(statuses[0] + statuses[1]) == [200] + [409] * 23
        sizes = {a.add(log.request(0)).text, b.add(log.request(0)).text}
    assert len(sizes) == 1


def test_sigkill_and_restart_keeps_what_it_cosigned(tmp_path: Path, log: SampleLog) -> None:
    env = witness_env(tmp_path, [log], free_witness_port())
    with running_witness(env, tmp_path / "first.log") as witness:
        assert witness.add(log.request(0, 11)).status_code == 200
        witness.kill()
    with running_witness(env, tmp_path / "second.log") as witness:
        answer = witness.add(log.request(0, 16))
        assert (answer.status_code, answer.text) == (409, "11\n")
        assert witness.add(log.request(11, 16)).status_code == 200


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provledger", "witness", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_command_prints_its_key_and_refuses_a_bad_logs_file(tmp_path: Path, log: SampleLog) -> None:
    env = witness_env(tmp_path, [log], free_witness_port())
    keys = _cli(env, "keys")
    assert (keys.returncode, keys.stdout) == (0, cosigner(witness_key()).verifier_key_string() + "\n")
    Path(env["PROVLEDGER_WITNESS_LOGS_FILE"]).write_text(f"log {log.origin}\n")
    refused = _cli(env)
    assert refused.returncode == 2, refused.stderr
    assert "line 1" in refused.stderr
    assert "a key is missing" in refused.stderr
