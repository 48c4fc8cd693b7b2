"""Usage mistakes get click's usage message and exit status 2, never a traceback."""

from __future__ import annotations

import pytest

from provledger.cli import EXIT_CONFIG, main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no-such-command"], "No such command 'no-such-command'"),
        (["verify"], "Missing argument 'bundle'"),
        (["keys", "generate"], "Missing option '--out'"),
    ],
)
def test_usage_errors_exit_2_with_a_usage_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert message in err
    assert "Usage: provledger" in err
    assert "Traceback" not in err
