"""Digests of bytes, files and directory trees, and salted commitments: vectors and stability."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from provledger.emit.artifacts import (
    artifact,
    bytes_digest,
    commitment,
    content_digest,
    file_digest,
    new_salt,
    tree_digest,
    tree_manifest,
)

ABC_SHA256 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 B.1


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_bytes_digest_is_the_fips_vector() -> None:
    assert bytes_digest(b"abc") == ABC_SHA256
    assert bytes_digest(memoryview(b"abc")) == ABC_SHA256


def test_file_digest_is_the_digest_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"abc")
    assert file_digest(path) == ABC_SHA256 == content_digest(path) == content_digest(str(path))


def test_tree_manifest_is_sorted_sha256sum_lines(tmp_path: Path) -> None:
    _write(tmp_path, {"b.txt": b"abc", "a/z.bin": b"", "a/b c.txt": b"x"})
    expected = b"".join(
        hashlib.sha256(content).hexdigest().encode() + b"  " + name + b"\n"
        for name, content in [(b"a/b c.txt", b"x"), (b"a/z.bin", b""), (b"b.txt", b"abc")]
    )
    assert tree_manifest(tmp_path) == expected
    assert tree_digest(tmp_path) == "sha256:" + hashlib.sha256(expected).hexdigest()


def test_tree_digest_depends_on_content_and_paths_only(tmp_path: Path) -> None:
    files = {"model/config.json": b"{}", "model/weights.bin": b"\x00" * 1000, "README": b"hi"}
    first = _write(tmp_path / "one", files)
    second = _write(tmp_path / "two", dict(reversed(files.items())))  # created in another order
    (second / "empty-dir").mkdir()
    os.chmod(second / "README", 0o600)
    os.utime(second / "README", (0, 0))
    assert tree_digest(first) == tree_digest(second)

    (second / "README").write_bytes(b"ho")
    assert tree_digest(first) != tree_digest(second)
    (second / "README").write_bytes(b"hi")
    (second / "README").rename(second / "README.md")
    assert tree_digest(first) != tree_digest(second)


def test_tree_digest_follows_links_to_files_and_refuses_links_to_directories(tmp_path: Path) -> None:
    plain = _write(tmp_path / "plain", {"weights.bin": b"w"})
    blobs = _write(tmp_path / "blobs", {"0123": b"w"})
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "weights.bin").symlink_to(blobs / "0123")
    assert tree_digest(linked) == tree_digest(plain)

    (linked / "more").symlink_to(blobs, target_is_directory=True)
    with pytest.raises(ValueError, match="links to a directory"):
        tree_digest(linked)


def test_tree_digest_refuses_broken_links_and_newlines(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "gone").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        tree_digest(broken)
    forged = _write(tmp_path / "forged", {"a\nb": b""})
    with pytest.raises(ValueError, match="newline"):
        tree_digest(forged)
    with pytest.raises(NotADirectoryError):
        tree_digest(tmp_path / "forged" / "a\nb")


def test_commitment_is_hmac_sha256_rfc4231_case_1() -> None:
    assert commitment(b"Hi There", b"\x0b" * 20) == (
        "sha256:b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    )


def test_commitment_hides_without_the_salt_and_refuses_short_salts() -> None:
    salt = new_salt()
    assert len(salt) == 32
    assert new_salt() != salt
    assert commitment(b"yes", salt) != bytes_digest(b"yes")
    assert commitment(b"yes", salt) != commitment(b"yes", new_salt())
    assert commitment(b"yes", salt) == commitment(b"yes", salt)
    with pytest.raises(ValueError, match="at least 16"):
        commitment(b"yes", b"short")


def test_artifact_names_itself_after_its_path(tmp_path: Path) -> None:
    folder = _write(tmp_path / "resnet50", {"weights.bin": b"abc"})
    ref = artifact(folder, kind="model", namespace="vision", version="3")
    assert (ref.namespace, ref.name, ref.kind, ref.version) == ("vision", "resnet50", "model", "3")
    assert ref.digest == tree_digest(folder)
    assert artifact(folder / "weights.bin", kind="checkpoint").digest == ABC_SHA256
    assert artifact(b"abc", kind="dataset", name="rows").digest == ABC_SHA256
    with pytest.raises(ValueError, match="needs a name"):
        artifact(b"abc", kind="dataset")
