"""Content digests of what ML code touches: files, directories, bytes, and salted commitments.

Digests are ``sha256:<64 hex>``, the form every :class:`~provledger.events.ArtifactRef` carries.

Directory tree hash (stable across machines, file systems and walk order): the SHA-256 of a
manifest with one line per regular file under the directory, at any depth::

    <sha256 of the file's bytes, 64 lowercase hex>␠␠<path relative to the directory, '/'-separated>\\n

lines sorted by the UTF-8 bytes of the path. It is the manifest of Go's ``dirhash.Hash1`` (the
``h1:`` hashes of go.sum), written as hex instead of base64; each line is what ``sha256sum``
prints for the relative path, so the manifest can be rebuilt with standard tools. Only content
and relative paths count: not modes, times, owners, nor empty directories. Symbolic links to
files count as the file they point to (model caches such as Hugging Face's are links into a
blob store); links to directories and special files are refused, since following them could
loop or read devices. A path holding a newline is refused,
since it would forge a manifest line.

Commitments: a digest of a low-entropy value (a label, a yes/no answer) can be found by trying
every candidate. :func:`commitment` is HMAC-SHA256 keyed by a secret salt the caller keeps:
hiding without the salt, checkable with it, and erasing the salt ("crypto-shredding") leaves a
value nobody can open, while the ledger's hashed bytes stay untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from provledger.events import ArtifactRef

#: Shortest salt :func:`commitment` accepts: 128 bits keeps commitments hiding.
MIN_SALT_BYTES = 16


def _prefixed(hexdigest: str) -> str:
    return f"sha256:{hexdigest}"


def bytes_digest(data: bytes | bytearray | memoryview) -> str:
    """``sha256:<hex>`` of in-memory bytes."""
    return _prefixed(hashlib.sha256(data).hexdigest())


def file_digest(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks (a checkpoint may not fit in memory)."""
    with open(path, "rb") as file:
        return _prefixed(hashlib.file_digest(file, "sha256").hexdigest())


def tree_manifest(root: str | os.PathLike[str]) -> bytes:
    """The manifest whose SHA-256 is :func:`tree_digest` (module docstring); ValueError on what it refuses."""
    base = Path(root)
    if not base.is_dir():
        raise NotADirectoryError(f"{base} is not a directory")
    entries: list[tuple[bytes, str]] = []
    for directory, subdirectories, files in os.walk(base, onerror=_raise):
        for name in subdirectories:
            if (link := Path(directory, name)).is_symlink():
                raise ValueError(f"{link} links to a directory; tree hashes do not follow it")
        for name in files:
            path = Path(directory, name)
            relative = path.relative_to(base).as_posix()
            if "\n" in relative:
                raise ValueError(f"{relative!r} holds a newline, which would forge a manifest line")
            if not stat.S_ISREG(path.stat().st_mode):
                raise ValueError(f"{path} is not a regular file (a device, socket, pipe or broken link)")
            entries.append((relative.encode("utf-8", "surrogateescape"), file_digest(path)))
    entries.sort()
    return b"".join(
        f"{digest.removeprefix('sha256:')}  ".encode() + relative + b"\n" for relative, digest in entries
    )


def _raise(error: OSError) -> None:
    raise error


def tree_digest(root: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a directory's files and relative paths (module docstring)."""
    return bytes_digest(tree_manifest(root))


def new_salt() -> bytes:
    """A fresh 32-byte secret salt for :func:`commitment`; the caller stores it, never the ledger."""
    return secrets.token_bytes(32)


def commitment(data: bytes, salt: bytes) -> str:
    """``sha256:<hex>`` of HMAC-SHA256(salt, data): hides ``data`` until ``salt`` is revealed."""
    if len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"a salt must hold at least {MIN_SALT_BYTES} random bytes; use new_salt()")
    return _prefixed(hmac.new(salt, data, hashlib.sha256).hexdigest())


def content_digest(content: bytes | str | os.PathLike[str]) -> str:
    """The digest of bytes, of a file, or of a directory tree, whichever ``content`` is.

    A ``str`` is a path, never text to hash: pass ``text.encode()`` to hash text.
    """
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes_digest(content)
    path = Path(content)
    return tree_digest(path) if path.is_dir() else file_digest(path)


def artifact(
    content: bytes | str | os.PathLike[str],
    *,
    kind: str,
    name: str | None = None,
    namespace: str = "default",
    version: str | None = None,
) -> ArtifactRef:
    """An :class:`ArtifactRef` pinned by the digest of ``content`` (bytes, a file or a directory).

    ``name`` defaults to the file or directory name; bytes need one. ``kind`` says what it is
    (``dataset``, ``model``, ``checkpoint``, ``features``, ``metrics``, ...).
    """
    if name is None:
        if isinstance(content, bytes | bytearray | memoryview):
            raise ValueError("an artifact made from bytes needs a name")
        name = Path(content).name
    return ArtifactRef(namespace, name, content_digest(content), kind, version)
