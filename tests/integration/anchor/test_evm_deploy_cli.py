"""provledger anchors new-key and deploy-contract against a real anvil."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.helpers.anvil import anvil_node_fixture  # noqa: F401  (fixture)

from provledger.anchor.evm.artifact import artifact
from provledger.cli import main
from provledger.local.anvil import LocalAnvil, rpc_call


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


def test_a_new_key_deploys_the_shipped_contract(
    anvil_node: LocalAnvil, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "submitter.key"
    code, out = run(capsys, "anchors", "new-key", "--out", str(key))
    assert code == 0, out
    assert key.stat().st_mode & 0o777 == 0o600
    address = re.search(r"submitter account: (0x[0-9a-fA-F]{40})", out)
    assert address is not None
    code, out = run(capsys, "anchors", "new-key", "--out", str(key))
    assert code == 2
    assert "never overwritten" in out

    # An account without funds cannot deploy: the node's refusal is reported, nothing is configured.
    code, out = run(capsys, "anchors", "deploy-contract", "--rpc-url", anvil_node.url, "--key-file", str(key))
    assert code != 0
    assert "PROVLEDGER_EVM_CONTRACT=" not in out
    rpc_call(anvil_node.url, "anvil_setBalance", address[1], hex(10**18))
    code, out = run(capsys, "anchors", "deploy-contract", "--rpc-url", anvil_node.url, "--key-file", str(key))
    assert code == 0, out
    contract = re.search(r"PROVLEDGER_EVM_CONTRACT=(0x[0-9a-f]{40})", out)
    assert contract is not None
    code_at = bytes.fromhex(rpc_call(anvil_node.url, "eth_getCode", contract[1], "latest")[2:])
    assert code_at
    assert code_at in artifact().bytecode
