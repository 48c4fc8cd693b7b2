"""Run the page's Node tests (``tests/js/*.test.mjs``) with Node's own runner, so ``make test`` has them.

They need no npm package: the page's modules are plain ES modules and the tests use ``node:test``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).parents[3] / "tests" / "js"


def test_every_node_test_of_the_page_passes() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page's JavaScript tests need Node 20+ (CI installs it)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True)
    version_text = version.stdout
    assert int(version_text.lstrip("v").split(".")[0]) >= 20, (
        f"node {version_text.strip()} is too old: the page's verifier needs Node 20+ (WebCrypto Ed25519 on "
        "globalThis.crypto); Debian 12's nodejs is 18, install Node 20 (e.g. from NodeSource)"
    )
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no *.test.mjs under {JS_TESTS}"
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = "\n".join(line for line in result.stdout.splitlines() if line.startswith(("# ", "not ok")))
    assert result.returncode == 0, f"{summary}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert "# fail 0" in result.stdout, summary
