"""Every docstring example in provledger runs and passes, found by its ``>>>`` prompt.

Only the modules that have examples are imported: importing every module of the package in the
test process (``--doctest-modules``) loads the sealer's Faust app and the demo too, and the
stateful schemathesis run in tests/integration/api/test_api_schema.py then stops reaching its
linked ids.
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

import provledger

PACKAGE = Path(provledger.__file__).parent
PROMPT = re.compile(r"^\s*>>> ", re.MULTILINE)


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if PROMPT.search(path.read_text(encoding="utf-8")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules_with_examples()


def test_the_examples_are_found() -> None:
    assert {"provledger.ledger", "provledger.store.unavailable", "provledger.events"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    failed, attempted = doctest.testmod(importlib.import_module(name))
    assert attempted, f"{name} has a '>>> ' line that is no example doctest finds"
    assert failed == 0
