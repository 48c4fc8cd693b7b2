"""``provledger verify`` trusts only what the user gives it, and prints a bundle's strings escaped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.helpers.verify_bundles import sealed_bundle

from provledger.cli import main
from provledger.commands.verify_text import check_table, event_statement, printable
from provledger.events import ArtifactRef, Event, EventType, Job, Run, canonical_event_bytes
from provledger.ledger.keys import SigningKey

ORIGIN = "ledger.example.com/log"
KEY = SigningKey.from_seed(ORIGIN, b"\x07" * 32)
ANCHORER = SigningKey.from_seed("anchorer.example.com", b"\x08" * 32)
DIGEST = "sha256:" + "ab" * 32
#: Rich markup that would crash ("[/]") or restyle ("[bold red]", "[link=...]") the report.
MARKUP = "[/][bold red]x[/bold red][link=https://evil.example]y[/link]"
#: Terminal escape sequences: clear the screen, a hyperlink, a bell, a bidi override.
ESCAPES = "\x1b[2J\x1b]8;;https://evil.example\x07z\u202e"
HOSTILE_EVENT = Event.new(
    EventType.COMPLETE,
    job=Job(f"ns{MARKUP}", f"job{MARKUP}"),
    run=Run("0190f3a0-0000-7000-8000-000000000002"),
    producer="https://example.com/trainer",
    inputs=[ArtifactRef(f"in{MARKUP}", f"data{MARKUP}", DIGEST, "dataset", f"v{MARKUP}")],
    outputs=[ArtifactRef("models", "m", DIGEST, "model")],
    attributes={"provledger.submitter": f"trainer{MARKUP}", f"note{MARKUP}": f"value{MARKUP}"},
)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _files(tmp_path: Path, bundle: dict[str, Any], *keys: SigningKey) -> tuple[str, str]:
    path, key_file = tmp_path / "evidence.json", tmp_path / "keys.txt"
    path.write_text(json.dumps(bundle))
    key_file.write_text("".join(k.verifier.verifier_key_string() + "\n" for k in keys or (KEY,)))
    return str(path), str(key_file)


def test_the_event_is_stated_in_plain_words_before_the_checks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bundle, keys = _files(tmp_path, sealed_bundle([HOSTILE_EVENT], KEY, ORIGIN, 0))
    code, out, _ = _run(capsys, bundle, "--trusted-keys", keys)
    assert code == 0, out
    flat = " ".join(out.split())
    assert out.index("What the event states") < out.index("leaf-in-block")
    assert f"{HOSTILE_EVENT.event_id}: COMPLETE at" in flat
    assert f"submitted by trainer{MARKUP}" in flat  # markup shown literally, not applied
    assert f"used dataset in{MARKUP}/data{MARKUP} version v{MARKUP}, digest {DIGEST}" in flat
    assert f"produced model models/m, digest {DIGEST}" in flat
    assert f"attribute note{MARKUP} = value{MARKUP}" in flat
    assert (
        f"verified: every check that ran passed, against the trusted keys given, for the log {ORIGIN}" in flat
    )


def test_bundle_strings_with_escapes_and_markup_neither_reach_the_terminal_nor_crash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = sealed_bundle([HOSTILE_EVENT], KEY, ORIGIN, 0)
    document["event"]["event_id"] = f"{ESCAPES}{MARKUP}"
    document["receipts"] = [{"type": f"kind{ESCAPES}{MARKUP}"}]
    document["anchored"] = True
    bundle, keys = _files(tmp_path, document)
    code, out, err = _run(capsys, bundle, "--trusted-keys", keys)
    assert code == 1, out + err
    assert [c for c in ("\x1b", "\x07", "\u202e") if c in out] == []
    assert ("\\x1b[2J" in out, "\\u202e" in out) == (True, True)
    squeezed = "".join(out.split())  # rich wraps long lines; markup is shown literally all the same
    assert "".join(f"trainer{MARKUP}".split()) in squeezed
    assert "NOT verified: failed event-id" in out


def test_escaped_output_stays_plain_on_a_real_terminal() -> None:
    console = Console(record=True, force_terminal=True, color_system="truecolor", width=200)
    console.print(check_table(f"{ESCAPES}{MARKUP}", [("bundle", "failed", "bold red", f"{ESCAPES}{MARKUP}")]))
    shown = console.export_text(styles=False)
    assert MARKUP in shown
    assert "\x1b[2J" not in console.export_text(styles=True)
    assert printable("a\\x1b") == "a\\\\x1b"  # a literal backslash cannot fake an escape


def test_unreadable_canonical_bytes_state_nothing() -> None:
    statement = event_statement(b"\xff\x00garbage")
    assert statement.lines == ()
    assert statement.error is not None
    assert event_statement(canonical_event_bytes(HOSTILE_EVENT)).error is None


def test_the_log_origin_is_required_and_says_what_to_pass(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bundle, keys = _files(tmp_path, sealed_bundle([HOSTILE_EVENT], KEY, ORIGIN, 0), KEY, ANCHORER)
    code, _, err = _run(capsys, bundle, "--trusted-keys", keys)
    flat = " ".join(err.split())
    assert code == 2
    assert "pass --log-origin ORIGIN" in flat
    assert _run(capsys, bundle, "--trusted-keys", keys, "--log-origin", ORIGIN)[0] == 0
    code, _, err = _run(capsys, bundle, "--trusted-keys", keys, "--log-origin", "not an origin")
    assert code == 2


def test_another_logs_bundle_signed_by_the_same_key_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = sealed_bundle([HOSTILE_EVENT], KEY, "other.example.com/log", 0)
    bundle, keys = _files(tmp_path, other)
    code, out, _ = _run(capsys, bundle, "--trusted-keys", keys, "--json")
    failed = {c["name"] for c in json.loads(out)["checks"] if c["status"] == "failed"}
    assert (code, failed) == (1, {"log-id", "checkpoint"})


def test_event_id_must_be_the_bundles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bundle, keys = _files(tmp_path, sealed_bundle([HOSTILE_EVENT], KEY, ORIGIN, 0))
    assert _run(capsys, bundle, "--trusted-keys", keys, "--event-id", HOSTILE_EVENT.event_id.upper())[0] == 0
    other = "0190f3a0-0000-7000-8000-0000000000ff"
    code, out, _ = _run(capsys, bundle, "--trusted-keys", keys, "--event-id", other, "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1
    assert f"not the expected event {other}" in checks["expected-event"]["detail"]
    code, _, err = _run(capsys, bundle, "--trusted-keys", keys, "--event-id", "model-7")
    assert code == 2
    assert "--event-id 'model-7' is not a UUID" in " ".join(err.split())
