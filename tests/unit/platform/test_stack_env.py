"""The lines `provledger up` prints and writes: a shell that sources them gets the stack's exact addresses."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from provledger.commands.stack_env import StackAddresses, export_lines, write_env_file

ADDRESSES = StackAddresses(
    kafka_bootstrap="127.0.0.1:39092",
    database_url="postgresql://postgres:p$w'd&x@127.0.0.1:5433/provledger?sslmode=disable",
    api_url="http://127.0.0.1:8080",
    log_origin="ledger.example.com/ml",
)


def _sourced(path: Path, names: list[str]) -> dict[str, str]:
    script = f". {path}; " + "; ".join(f'printf "%s\\0" "${name}"' for name in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return dict(zip(names, out.decode().split("\0")[:-1], strict=True))


def test_a_shell_sourcing_the_file_gets_every_address_verbatim(tmp_path: Path) -> None:
    path = write_env_file(tmp_path, export_lines(ADDRESSES))
    names = ["PROVLEDGER_KAFKA_BOOTSTRAP", "PROVLEDGER_DATABASE_URL", "PROVLEDGER_API_URL",
             "PROVLEDGER_LOG_ORIGIN", "OPENLINEAGE_URL"]  # fmt: skip
    assert _sourced(path, names) == {
        "PROVLEDGER_KAFKA_BOOTSTRAP": ADDRESSES.kafka_bootstrap,
        "PROVLEDGER_DATABASE_URL": ADDRESSES.database_url,  # quotes, $ and & survive the shell
        "PROVLEDGER_API_URL": ADDRESSES.api_url,
        "PROVLEDGER_LOG_ORIGIN": ADDRESSES.log_origin,
        "OPENLINEAGE_URL": ADDRESSES.api_url,
    }


def test_only_its_owner_may_read_the_file_even_when_an_older_one_was_open(tmp_path: Path) -> None:
    old = tmp_path / "env.sh"
    old.write_text("export STALE=1\n")
    old.chmod(0o644)
    path = write_env_file(tmp_path, export_lines(ADDRESSES))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "STALE" not in path.read_text()
