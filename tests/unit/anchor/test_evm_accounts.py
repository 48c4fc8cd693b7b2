"""Loading the evm kind's signer leaves the process able to refuse deeply nested JSON.

eth-account imports py_ecc, which lifts the recursion limit to 100,000; the C JSON decoder then
recurses past the C stack on 100,000 nested ``[`` and the process dies of a segmentation fault.
Run in a child process: a regression must fail this test, not kill the test run.
"""

from __future__ import annotations

import subprocess
import sys

NESTED = "import json\ntry:\n    json.loads('[' * 100_000)\nexcept RecursionError:\n    print('refused')\n"


def _run(preamble: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", preamble + NESTED], capture_output=True, text=True, timeout=120
    )


def test_the_evm_kind_leaves_the_recursion_limit_as_it_found_it() -> None:
    loaded = _run(
        "import sys\nfrom provledger.anchor.evm.kind import EvmKind\nassert 'py_ecc' in sys.modules\n"
    )
    assert (loaded.returncode, loaded.stdout.strip()) == (0, "refused"), loaded.stderr


def test_without_the_guard_py_ecc_would_crash_the_process() -> None:
    # What the guard is for: the same body after a bare import of eth-account kills the process.
    bare = _run("import eth_account\n")
    assert bare.returncode < 0, (bare.returncode, bare.stdout)
