"""The hashed locks in ``requirements/`` pin every dependency pyproject.toml declares, within its range.

``make install`` and the image install only from these files, with ``--require-hashes``; a
dependency added to pyproject.toml without ``make lock`` would be missing from them, and one whose
range moved past its pin would be installed at a version pyproject.toml refuses. Either fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _lock(name: str) -> dict[str, str]:
    """``{canonical name: version}`` of ``requirements/<name>.lock``, every pin with a sha256."""
    text = (ROOT / "requirements" / f"{name}.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text[text.index("\n", text.rindex("make lock")) + 1 :])
    pins: dict[str, str] = {}
    for entry in entries:
        match = _PIN.match(entry)
        assert match, f"{name}.lock: not a pin: {entry[:80]!r}"
        assert "--hash=sha256:" in entry, f"{name}.lock: {match[1]} has no hash"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    """pyproject.toml's dependencies and those of ``extras``, following ``provledger[...]`` ones."""
    found, todo, seen = [], list(extras), set()
    found += [Requirement(text) for text in PROJECT["dependencies"]]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, PROJECT["optional-dependencies"][extra]):
            if canonicalize_name(requirement.name) == "provledger":
                todo += sorted(requirement.extras)
            else:
                found.append(requirement)
    return found


@pytest.mark.parametrize(("lock", "extras"), [("runtime", ()), ("dev", ("dev",))])
def test_every_declared_dependency_is_pinned_with_hashes_within_its_range(
    lock: str, extras: tuple[str, ...]
) -> None:
    pins = _lock(lock)
    for requirement in _requirements(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements/{lock}.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements/{lock}.lock pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )


def test_the_image_build_tools_stay_within_the_dev_and_build_system_ranges() -> None:
    pins = _lock("build")
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    wanted = [Requirement(text) for text in build_system] + [
        r for r in _requirements("dev") if canonicalize_name(r.name) in ("mypy", "setuptools")
    ]
    for requirement in wanted:
        assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)], prereleases=True)


def test_installs_require_the_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/dev.lock" in makefile
    assert "--require-hashes -r requirements/tools.lock" in makefile
    for lock in ("build", "runtime"):
        assert f"--require-hashes -r requirements/{lock}.lock" in dockerfile
    # The project itself is the only thing installed unhashed, and without its dependencies.
    installs = [line for line in (makefile + dockerfile).splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert "--require-hashes" in line or "--no-deps" in line, line
