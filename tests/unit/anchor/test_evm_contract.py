"""The anchor contract's committed ABI and bytecode are what the pinned solc makes of its source."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from provledger.anchor.evm.artifact import artifact, source
from provledger.ledger.evm_receipt import ANCHOR_SELECTOR, ANCHORED_TOPIC, EVENT_SIGNATURE, FUNCTION_SIGNATURE
from provledger.ledger.mpt import keccak256

ROOT = Path(__file__).resolve().parents[3]
COMPILE = ROOT / "tools" / "chain" / "compile.js"


def test_solc_recompiles_the_committed_bytecode_and_abi() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "tools" / "chain" / "node_modules" / "solc").is_dir():
        pytest.skip("node or tools/chain/node_modules/solc is absent: run `make install` with npm present")
    with tempfile.TemporaryDirectory() as folder:  # compile the source the wheel ships, not a copy
        shipped = Path(folder) / "ProvledgerAnchor.sol"
        shipped.write_text(source())
        result = subprocess.run([node, str(COMPILE), str(shipped)], capture_output=True, text=True,
                                timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    compiled = json.loads(result.stdout)
    committed = artifact()
    assert compiled["compiler"] == committed.compiler
    assert tuple(compiled["abi"]) == committed.abi
    assert bytes.fromhex(compiled["bytecode"]) == committed.bytecode


def test_the_abi_is_the_one_the_ledger_checks_logs_against() -> None:
    by_name = {entry["name"]: entry for entry in artifact().abi}
    event, function = by_name["Anchored"], by_name["anchor"]
    assert f"Anchored({','.join(i['type'] for i in event['inputs'])})" == EVENT_SIGNATURE
    assert [i["indexed"] for i in event["inputs"]] == [True, True, True, False]
    assert f"anchor({','.join(i['type'] for i in function['inputs'])})" == FUNCTION_SIGNATURE
    assert keccak256(EVENT_SIGNATURE.encode()) == ANCHORED_TOPIC
    assert keccak256(FUNCTION_SIGNATURE.encode())[:4] == ANCHOR_SELECTOR
    # The runtime code dispatches on that selector.
    assert ANCHOR_SELECTOR in artifact().bytecode


def test_the_wheel_ships_the_contract(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    [wheel] = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for suffix in (".sol", ".json"):
        assert f"provledger/anchor/evm/contract/ProvledgerAnchor{suffix}" in names
