"""``PROVLEDGER_LOCAL_SERVERS``: a value outside auto, containers, embedded stops ``up`` before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from provledger.cli import EXIT_CONFIG, main
from provledger.config import load
from provledger.local import LocalServersSettings


@pytest.mark.parametrize("value", ["auto", "containers", "embedded"])
def test_each_accepted_value_loads(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_LOCAL_SERVERS", value)
    assert load(LocalServersSettings).local_servers == value


def test_the_default_is_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVLEDGER_LOCAL_SERVERS", raising=False)
    assert load(LocalServersSettings).local_servers == "auto"


def test_up_refuses_an_unknown_value_naming_the_accepted_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROVLEDGER_LOCAL_SERVERS", "docker")
    data_dir = tmp_path / "data"
    with pytest.raises(SystemExit) as exited:
        main(["up", "--data-dir", str(data_dir)])
    assert exited.value.code == EXIT_CONFIG
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "PROVLEDGER_LOCAL_SERVERS" in err
    assert "'auto', 'containers' or 'embedded'" in err
    assert not data_dir.exists()  # refused before anything was made or started
