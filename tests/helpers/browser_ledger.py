"""What the explorer page's ledger and evidence-set tests browse: the demo stack ``provledger up --demo``.

The stack is the real one a user starts with ``make run`` (embedded Postgres, the broker, the
local TSA, the sealer, two witnesses, the anchorer, the API with public reads, the demo's steady
inference traffic), up once the demo model's evidence is anchored and verified; it is stopped with
Ctrl-C (SIGINT) as a user stops it, killed if it does not stop. Its output goes to a file, so a
long test never blocks on a full pipe. The page's modules are mounted in a page of the API's own
origin (a secure context, under the page's Content-Security-Policy) by :func:`mount_script`.

An evidence set the page made is unpacked by :func:`unpack` and checked by running its README's
own commands (:func:`readme_commands`, :func:`run_shell`), as its reader would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

#: Up to the demo model's evidence anchored and checked offline; `up` itself waits up to 150 s.
READY_TIMEOUT_S: Final = 240
_API_LINE: Final = re.compile(r"The API is at (http://127\.0\.0\.1:\d+); press Ctrl-C")

#: Page-side fetch wrapper the modules take as ``api`` (public reads: no token), as the page's own.
PAGE_API: Final = """
const answer = async (path, read) => {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return read(response);
};
const api = {
  getJSON: (path) => answer(path, (r) => r.json()),
  getText: (path) => answer(path, (r) => r.text()),
};
"""


@dataclass(frozen=True)
class DemoStack:
    """A running ``provledger up --demo``: its API, data directory and output so far."""

    api_url: str
    data_dir: Path
    output_file: Path

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    async def get(self, path: str, **params: str | int) -> Any:
        """The API's JSON answer to ``GET path`` (public reads: no token)."""
        async with httpx.AsyncClient(base_url=self.api_url, timeout=10) as client:
            response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def mount_script(module: str, call: str) -> str:
    """A function for ``page.evaluate``: imports ``/ui/js/<module>`` as ``m``, returns ``call``."""
    return f"async () => {{ const m = await import('/ui/js/{module}'); {PAGE_API} return {call}; }}"


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """``provledger up --demo`` on free ports, once its API says where it is; stopped afterwards.

    One stack per test module: each test still gets a fresh browser profile (its own storage).
    """
    folder = tmp_path_factory.mktemp("demo-stack")
    data_dir, output_file = folder / "data", folder / "up.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROVLEDGER_DATABASE_URL", "PROVLEDGER_KAFKA_BOOTSTRAP")
    }
    env |= {"PROVLEDGER_LOCAL_SERVERS": "embedded", "PROVLEDGER_API_PORT": "0", "COLUMNS": "200"}
    with output_file.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "provledger", "up", "--demo", "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        found = None
        while found is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            found = _API_LINE.search(output_file.read_text(errors="replace"))
        assert found is not None, output_file.read_text(errors="replace")
        yield DemoStack(found[1], data_dir, output_file)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


def readme_commands(readme: str) -> tuple[str, list[str]]:
    """The README's loop over every bundle, and its one command per bundle."""
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.DOTALL)
    loop = next(block for block in blocks if block.startswith("failed=0"))
    singles = [line for line in blocks[1].splitlines() if line.startswith("provledger verify ")]
    return loop, singles


def run_shell(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in bash inside ``folder``, finding ``provledger`` where this Python's scripts are."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def assert_readme_verifies(folder: Path) -> list[str]:
    """Run the README's command for each bundle, then its loop over all: each must exit 0.

    Returns the per-bundle commands.
    """
    loop, singles = readme_commands((folder / "README.md").read_text())
    for command in singles:
        result = run_shell(command, folder)
        assert result.returncode == 0, command + "\n" + result.stdout + result.stderr
    result = run_shell(loop, folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 bundle(s) NOT verified" in result.stdout
    return singles


def unpack(archive: Path) -> tuple[list[zipfile.ZipInfo], Path]:
    """The archive's entries, after checking every CRC-32, and the folder ``set`` it is unpacked in."""
    folder = archive.parent / "set"
    with zipfile.ZipFile(archive) as opened:
        assert opened.testzip() is None  # every entry's CRC-32 matches its bytes
        opened.extractall(folder)
        return opened.infolist(), folder
