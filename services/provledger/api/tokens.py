"""API bearer tokens: created once, stored only as SHA-256 hashes in a JSON-lines file.

A token is ``plt_`` and 32 random bytes in base64url (256 bits), so SHA-256 of it needs no salt
or slow hash: nobody can guess a preimage. The file (``PROVLEDGER_TOKENS_FILE``, or a mounted
Kubernetes secret) holds one JSON object per line::

    {"name": "airflow", "sha256": "<hex>", "scopes": ["emit"], "created_at": "2026-11-24T10:00:00Z"}

Scopes: ``read`` (every GET of ledger data), ``emit`` (OpenLineage ingest), ``admin`` (metrics,
and implies the other two). The API rereads the file when its modification time changes, so a
token created with ``provledger tokens create`` works without a restart. Tokens are compared by
hash in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

from provledger.errors import ConfigurationError

TOKEN_PREFIX: Final = "plt_"
_TOKEN_BYTES: Final = 32


class Scope(StrEnum):
    READ = "read"
    EMIT = "emit"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """One stored token: who it is for, its hash and what it may do."""

    name: str
    sha256: bytes
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        """Whether the token carries ``scope``; ``admin`` carries every scope."""
        return scope in self.scopes or Scope.ADMIN in self.scopes


def parse_scopes(text: str | Iterable[str]) -> frozenset[Scope]:
    """Scopes from ``read,emit`` (or a list); ConfigurationError naming the valid ones otherwise."""
    names = [part.strip() for part in (text.split(",") if isinstance(text, str) else text)]
    try:
        scopes = frozenset(Scope(name) for name in names if name)
    except ValueError as exc:
        raise ConfigurationError(
            f"{exc}; scopes are {', '.join(s.value for s in Scope)} (comma-separated)"
        ) from None
    if not scopes:
        raise ConfigurationError("a token needs at least one scope: read, emit or admin")
    return scopes


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_token(path: Path, scopes: frozenset[Scope], name: str) -> str:
    """Append a new token's hash to ``path`` (created mode 0600) and return the token, shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    line = json.dumps(
        {
            "name": name,
            "sha256": token_hash(token).hex(),
            "scopes": sorted(scope.value for scope in scopes),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as file:
        file.write(line + "\n")
    return token


def _entry(line: str, where: str) -> TokenEntry:
    try:
        record = json.loads(line)
        digest = bytes.fromhex(record["sha256"])
        if len(digest) != hashlib.sha256().digest_size:
            raise ValueError("sha256 is not 32 bytes")
        return TokenEntry(str(record.get("name", "")), digest, parse_scopes(record["scopes"]))
    except (ValueError, KeyError, TypeError, AttributeError, ConfigurationError) as exc:
        raise ConfigurationError(
            f"{where} is not a token entry ({exc}); each line must be "
            '{"name": ..., "sha256": "<64 hex>", "scopes": ["read", ...]}'
        ) from None


def load_tokens(path: Path) -> tuple[TokenEntry, ...]:
    """Every entry of the tokens file; a missing file holds none, a malformed line is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise ConfigurationError(f"cannot read tokens file {str(path)!r}: {exc.strerror}") from exc
    return tuple(
        _entry(line, f"{path}:{number}")
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    )


class TokenStore:
    """The tokens of one file, reloaded when the file changes."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._entries: tuple[TokenEntry, ...] = ()
        self._refresh()

    def _refresh(self) -> None:
        if self._path is None:
            return
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != self._stamp:
            self._entries = load_tokens(self._path)
            self._stamp = stamp

    def find(self, token: str) -> TokenEntry | None:
        """The entry of ``token``, comparing against every stored hash in constant time."""
        self._refresh()
        digest = token_hash(token)
        found = None
        for entry in self._entries:
            if hmac.compare_digest(entry.sha256, digest):
                found = entry
        return found
