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


def test_an_error_stays_one_line_and_its_text_is_never_markup(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A path longer than any terminal, with brackets rich would read as a closing tag.
    missing = "/nowhere/" + "d" * 150 + "/[/]witness.pem"
    monkeypatch.setenv("PROVLEDGER_WITNESS_KEY_FILE", missing)
    with pytest.raises(SystemExit) as exited:
        main(["witness"])
    assert exited.value.code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1, err
    assert missing in err
