"""`provledger up` as a user runs it: it comes up, seals what is sent, and leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from provledger.events import Event, EventType, Job, Run, encode_record
from provledger.ledger.witness_policy import parse_witness_policy
from provledger.local.anvil import find_anvil
from provledger.local.containers import docker_engine_answers
from provledger.local.probes import run_blocking
from provledger.local.process import free_port
from provledger.local.tsa import make_tsa_pki
from provledger.witness.protocol import checkpoint_path

START_TIMEOUT_S = 60


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pids: list[int], timeout_s: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@dataclass
class Stack:
    process: subprocess.Popen[str]
    pids: list[int]  # of every process `up` reports it started
    output: str  # up to "ready"


def _up_argv_env(data_dir: Path, local_servers: str, *flags: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `provledger up` with local servers of this kind."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROVLEDGER_DATABASE_URL", "PROVLEDGER_KAFKA_BOOTSTRAP")
    }
    env |= {"PROVLEDGER_LOCAL_SERVERS": local_servers, "PROVLEDGER_API_PORT": "0", "COLUMNS": "200"}
    return [sys.executable, "-m", "provledger", "up", "--data-dir", str(data_dir), *flags], env


#: Postgres, Kafka, the local TSA, the sealer, two witnesses, the anchorer, the API, and the local
#: chain where anvil is installed (make install); up says so and runs without it where it is not.
PROCESSES = 8 + (find_anvil() is not None)


def _start_up(
    data_dir: Path, *flags: str, extra_env: dict[str, str] | None = None, processes: int = PROCESSES
) -> Iterator[Stack]:
    """A running `provledger up` and the PIDs of the ``processes`` (plus the demo) it reports."""
    argv, env = _up_argv_env(data_dir, "embedded", *flags)
    env |= extra_env or {}
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + START_TIMEOUT_S
    for line in process.stdout:
        seen.append(line)
        if line.strip() == "ready" or time.monotonic() > deadline:
            break
    output = "".join(seen)
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", output)]
    try:
        assert "ready" in output, output
        # PROCESSES (, the demo)
        assert len(pids) == processes + len(flags), output
        assert all(_alive(pid) for pid in pids)
        yield Stack(process, pids, output)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        process.stdout.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    yield from _start_up(tmp_path / "data")


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[Stack]:
    yield from _start_up(tmp_path / "data", "--demo")


def test_up_honours_local_servers_containers(tmp_path: Path) -> None:
    """Told to use containers where no Docker engine answers, `up` refuses instead of going embedded."""
    if docker_engine_answers():
        pytest.skip("a Docker engine answers here: `up` would start containers, which this test avoids")
    data_dir = tmp_path / "data"
    argv, env = _up_argv_env(data_dir, "containers", "--exit-after", "0")
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=START_TIMEOUT_S, check=False
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "PROVLEDGER_LOCAL_SERVERS=containers but no Docker engine answers" in result.stderr
    assert not (data_dir / "postgres").exists()  # no embedded server was started instead


@pytest.mark.slow
def test_ctrl_c_stops_every_process(stack: Stack) -> None:
    process, pids = stack.process, stack.pids
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert _wait_gone(pids) == []


@pytest.mark.slow
def test_every_process_dies_with_a_killed_parent(stack: Stack) -> None:
    process, pids = stack.process, stack.pids
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert _wait_gone(pids) == []


def _lines_until(process: subprocess.Popen[str], pattern: str, timeout_s: float) -> str:
    """Read ``up``'s output until a line matches ``pattern`` (or the time is up); return all read."""
    assert process.stdout is not None
    found: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if re.search(pattern, line):
                found.put(line)
                return

    threading.Thread(target=read, daemon=True).start()
    with contextlib.suppress(queue.Empty):
        found.get(timeout=timeout_s)
    return "".join(seen)


async def _produce(bootstrap: str, events: int) -> None:
    run = Run(str(uuid.uuid4()))
    batch = [
        Event.new(EventType.RUNNING, job=Job("e2e", "up"), run=run, producer="https://provledger.test/up")
        for _ in range(events)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("provledger.events", encode_record(batch), key=run.run_id.encode())
    finally:
        await producer.stop()


def _sourced(env_file: Path) -> dict[str, str]:
    """The PROVLEDGER_ variables a bash that sources ``env_file`` has."""
    out = subprocess.run(
        ["bash", "-c", f". {env_file}; env -0"], capture_output=True, check=True, env={}
    ).stdout
    pairs = (item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {name: value for name, value in pairs if name.startswith("PROVLEDGER_")}


@pytest.mark.slow
def test_the_sealer_runs_and_seals_under_up(stack: Stack, tmp_path: Path) -> None:
    process, pids = stack.process, stack.pids
    assert "Generated a development signing key" in stack.output
    assert (tmp_path / "data" / "keys" / "development-sealer.pem").exists()
    # A second terminal finds the stack by sourcing the file `up` names, as its output says.
    env_file = tmp_path / "data" / "env.sh"
    assert f"source {env_file}" in stack.output, stack.output
    exported = _sourced(env_file)
    assert stack.output.index("Explorer page: " + exported["PROVLEDGER_API_URL"] + "/") < stack.output.index(
        "Postgres"
    )
    assert f"export PROVLEDGER_KAFKA_BOOTSTRAP={exported['PROVLEDGER_KAFKA_BOOTSTRAP']}" in stack.output
    assert httpx.get(exported["PROVLEDGER_API_URL"] + "/healthz").status_code == 200
    run_blocking(lambda: _produce(exported["PROVLEDGER_KAFKA_BOOTSTRAP"], 25))
    line = _lines_until(process, r"sealed: provledger\.events/\d+: 1 blocks, 25 events", 60)
    assert "25 events" in line, line
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert _wait_gone(pids) == []


def _assert_both_witnesses_cosigned(data: Path, origin: str, timeout_s: float = 20) -> None:
    """Each participant's witness serves a checkpoint of ``origin`` it cosigned (the anchorer asked both)."""
    policy = (data / "witnesses" / "policy.txt").read_text()
    witnesses = re.findall(r"^witness (\S+) (\S+) (\S+)$", policy, re.MULTILINE)
    assert [name for name, _, _ in witnesses] == ["client-0", "client-1"], policy
    assert "group federation all client-0 client-1\nquorum federation\n" in policy
    assert parse_witness_policy(policy).evaluate({"client-0", "client-1"}).met
    assert not parse_witness_policy(policy).evaluate({"client-0"}).met  # 2 of 2
    logs = (data / "witnesses" / "logs.txt").read_text()
    assert f"log {origin} provledger+" in logs, logs
    for name, key, url in witnesses:
        deadline, answer = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            answer = httpx.get(url + checkpoint_path(origin), timeout=5)
            if answer.status_code == 200:
                break
            time.sleep(0.5)
        assert answer is not None
        assert answer.status_code == 200, (name, answer.text)
        assert answer.text.startswith(origin + "\n"), answer.text
        assert f"\u2014 {key.split('+')[0]} " in answer.text, (name, answer.text)  # its cosignature line


@pytest.mark.slow
def test_the_demo_is_sealed_anchored_proved_offline_and_its_lineage_shown(
    demo_stack: Stack, tmp_path: Path
) -> None:
    process, pids = demo_stack.process, demo_stack.pids
    data = tmp_path / "data"
    told = _lines_until(process, r"The API is at http://127\.0\.0\.1:\d+; press Ctrl-C", 150)
    assert "The API is at" in told, told
    assert "Waiting up to" in told, told
    for participant in ("client-0", "client-1"):
        assert re.search(
            rf"Witness-{participant}\s*\S\s*running \(pid \d+\), {participant}'s witness at http://",
            demo_stack.output,
        )  # the wait for the anchor is said, not silent
    assert "--require rfc3161,witness" in told, told
    for kind in ("rfc3161", "tlog-witness"):
        assert re.search(rf"receipt\[\d+\]:{kind}\s*\S\s*passed", told), told
    assert "verified: every check that ran passed" in told, told
    assert re.search(r"Lineage of the demo model.*\n.*model demo/models/ctr-ranker", told), told
    for upstream in ("run demo/train-ctr", "dataset demo/raw/clickstream-2026-11", "run demo/ingest-raw"):
        assert upstream in told, told
    bundle = json.loads((data / "demo-evidence.json").read_text())
    assert bundle["format"] == "provledger-evidence/v1"
    assert bundle["anchored"] is True
    assert {"rfc3161", "tlog-witness"} <= {receipt["type"] for receipt in bundle["receipts"]}
    # The trusted keys are the sealer's and the anchorer's, nothing the API served.
    trusted = (data / "keys" / "trusted-keys.txt").read_text()
    assert [line.split("+")[0] for line in trusted.splitlines() if not line.startswith("#")] == [
        "provledger", "provledger-anchorer"
    ]  # fmt: skip
    verified = subprocess.run(
        [sys.executable, "-m", "provledger", "verify", str(data / "demo-evidence.json"),
         "--trusted-keys", str(data / "keys" / "trusted-keys.txt"),
         "--log-origin", "provledger.local/ledger",  # the stack's default PROVLEDGER_LOG_ORIGIN
         "--tsa-roots", str(data / "tsa" / "ca.pem"),
         "--witness-policy", str(data / "witnesses" / "policy.txt"),
         "--require", "rfc3161,witness", "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    report = json.loads(verified.stdout)
    assert (verified.returncode, report["ok"]) == (0, True), verified.stdout
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert set(statuses.values()) == {"passed"}, statuses
    assert statuses["anchor-policy"] == "passed"
    timestamp = next(c["detail"] for c in report["checks"] if c["name"].endswith(":rfc3161"))
    assert "timestamped by CN=provledger local TSA" in timestamp, timestamp
    cosigned = next(c["detail"] for c in report["checks"] if c["name"].endswith(":tlog-witness"))
    assert "quorum 'federation' met: cosigned by client-0, client-1" in cosigned, cosigned
    _assert_both_witnesses_cosigned(data, f"provledger.local/ledger/shard/{bundle['shard']}")
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert _wait_gone(pids) == []


@pytest.fixture
def demo_stack_without_tsa(tmp_path: Path) -> Iterator[Stack]:
    """`up --demo` whose anchorer is told of a TSA that never answers (nothing listens on its port)."""
    roots = make_tsa_pki(tmp_path / "elsewhere-tsa").ca_cert
    dead = {
        "PROVLEDGER_TSA_URLS": f"http://127.0.0.1:{free_port()}/",
        "PROVLEDGER_TSA_ROOTS_FILE": str(roots),
    }
    yield from _start_up(tmp_path / "data", "--demo", extra_env=dead, processes=PROCESSES - 1)  # no local TSA


@pytest.mark.slow
def test_the_demo_waits_a_bounded_time_for_the_timestamp_then_says_what_to_do(
    demo_stack_without_tsa: Stack, tmp_path: Path
) -> None:
    process, pids = demo_stack_without_tsa.process, demo_stack_without_tsa.pids
    told = _lines_until(process, r"The API is at http://127\.0\.0\.1:\d+; press Ctrl-C", 150)
    assert "The API is at" in told, told
    assert re.search(r"\.\.\. \d+ s, still waiting for an RFC 3161 timestamp", told), told  # progress
    assert re.search(r"still lacks an RFC 3161 timestamp after \d+ s", told), told
    assert "anchorer.log" in told, told
    assert "--require rfc3161,witness" in told, told  # what to add once it is anchored
    command = next(line for line in told.splitlines() if line.startswith("$ provledger verify"))
    assert "--require" not in command, command  # what the bundle holds is still checked
    assert "verified: every check that ran passed" in told, told
    bundle = json.loads((tmp_path / "data" / "demo-evidence.json").read_text())
    assert "rfc3161" not in {receipt["type"] for receipt in bundle["receipts"]}
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert _wait_gone(pids) == []
