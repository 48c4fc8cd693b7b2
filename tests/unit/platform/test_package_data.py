"""The explorer page's static folder is package data: in the built wheel, and found by importlib.resources."""

from __future__ import annotations

import zipfile
from importlib.resources import files
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parents[3]
#: A file every checkout has in web/static/ (it says what goes there).
STATIC_FILE = "README.md"


def test_the_static_folder_is_found_through_importlib_resources() -> None:
    static = files("provledger.web") / "static"
    assert static.is_dir()
    assert (static / STATIC_FILE).is_file()


def test_the_wheel_ships_the_static_folder(tmp_path: Path) -> None:
    [wheel] = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert f"provledger/web/static/{STATIC_FILE}" in names
