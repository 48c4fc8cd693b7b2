"""Signing-key files: create them safely, load them with errors that say what to do.

Every service that signs reads its key the same way: the sealer its block-signing key, the
anchorer its statement key (which MUST differ from the sealer's), the witness its cosigning key.
Rotating to a new key is a command (:mod:`provledger.commands.keys`); this module only reads and
writes the files.
"""

from __future__ import annotations

import os
from pathlib import Path

from provledger.errors import ConfigurationError
from provledger.ledger.keys import SigningKey


def generate_key_file(out: Path, name: str) -> SigningKey:
    """Write a new Ed25519 key as PKCS#8 PEM readable only by its owner; never overwrite a key."""
    key = SigningKey.generate(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigurationError(
            f"{out} already exists: a key is never overwritten; choose another --out"
        ) from exc
    with os.fdopen(fd, "wb") as file:
        file.write(key.to_pem())
    return key


def load_signing_key(path: Path, name: str) -> SigningKey:
    """A signing key from a PEM file or secret mount, or an error saying what to fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read signing key file {str(path)!r}: {exc.strerror}. Create a key with "
            "`provledger keys generate --out FILE` or mount the secret there."
        ) from exc
    try:
        return SigningKey.from_pem(data, name)
    except ValueError as exc:
        raise ConfigurationError(f"signing key file {str(path)!r} is not an Ed25519 PEM key: {exc}") from exc
