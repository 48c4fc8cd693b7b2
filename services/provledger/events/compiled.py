"""The sealer's fast reader compiled to C with mypyc, used only when built from this exact source.

Decoding is the largest share of the sealer's CPU (~45%, py-spy); compiled, the same
:mod:`provledger.events.reader` reads 8-event records ~3x faster (19.7 -> 6.8 us per event;
decode plus accept 34 -> 19). The pure module stays the reference and the fallback:

* a build is stored under the SHA-256 of ``reader.py``'s source, of ``limits.py`` (whose
  ``Final`` constants mypyc compiles in) and of ``rows.py`` (whose named tuples' field order it
  compiles in), so an edited reader, limit or row can never run stale compiled code: it runs
  pure until built again (``make install`` builds);
* a machine without a C compiler or mypy simply runs the pure module;
* the reader's tests run against both (``tests/unit/events/test_events_reader.py``).

Build with ``python -m provledger.events.compiled`` (needs mypy, from the dev extra, and a C
compiler). Builds live under the interpreter's prefix (the virtual environment), never in the
source tree.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from provledger.events import limits, rows
from provledger.events import reader as pure

#: The compiled copy's module name: distinct from the pure module's, so both can be loaded.
MODULE = "provledger_reader_mypyc"
BUILDS = Path(sys.prefix) / "lib" / "provledger-mypyc"


def compiled_sources() -> tuple[bytes, ...]:
    """What a build compiles in: ``reader.py`` first, then the modules whose definitions mypyc
    copies into the extension: ``limits.py`` (its ``Final`` constants) and ``rows.py`` (the
    field order of the named tuples the reader builds and reads)."""
    return tuple(Path(path).read_bytes() for path in (pure.__file__, limits.__file__, rows.__file__))


def build_folder(sources: tuple[bytes, ...] | None = None) -> Path:
    """Where the build of ``sources`` (by default :func:`compiled_sources` now) is, or would be."""
    return BUILDS / hashlib.sha256(b"\0".join(sources or compiled_sources())).hexdigest()[:32]


def _extension(folder: Path, name: str) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if (folder / f"{name}{suffix}").exists():
            return folder / f"{name}{suffix}"
    return None


def load() -> ModuleType | None:
    """The compiled reader built from the current source, or None (not built, or not loadable)."""
    path = _extension(build_folder(), MODULE)
    if path is None:
        return None
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:  # built for another interpreter: run pure
        return None
    sys.modules[MODULE] = module
    return module


_module = load()
#: :func:`provledger.events.reader.read_batch`, compiled when a build of its source is installed.
read_batch: Callable[[bytes, int], list[rows.EventRow] | None] = (
    pure.read_batch if _module is None else _module.read_batch
)
COMPILED = _module is not None


def build() -> Path:
    """Compile ``reader.py`` into :func:`build_folder`; a no-op when that build exists."""
    sources = compiled_sources()  # read once: the build is filed under what it compiled
    source = sources[0]
    folder = build_folder(sources)
    if _extension(folder, MODULE) is not None:
        return folder
    with tempfile.TemporaryDirectory(prefix="provledger-mypyc-") as tmp:
        work = Path(tmp)
        (work / f"{MODULE}.py").write_bytes(source)
        env = dict(os.environ)
        package_root = str(Path(pure.__file__).parents[2])
        if package_root not in site.getsitepackages():
            # An editable install: point mypy at the source tree. An installed package (the
            # image) is found in site-packages, which mypy refuses to see in MYPYPATH.
            env["MYPYPATH"] = package_root
        result = subprocess.run(
            [sys.executable, "-m", "mypyc", f"{MODULE}.py"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mypyc failed:\n{result.stdout}{result.stderr}")
        staged = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for built in work.glob(f"{MODULE}*"):
            if built.suffix != ".py" and built.is_file():
                shutil.copy2(built, staged / built.name)
        staged.rename(folder)  # whole builds only: a build cut short is never loaded
    return folder


def main() -> int:
    try:
        folder = build()
    except (RuntimeError, OSError) as exc:
        print(f"the compiled reader was not built ({exc}); the sealer runs the pure reader", file=sys.stderr)
        return 1
    print(f"compiled reader: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
