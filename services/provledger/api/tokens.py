"""API bearer tokens: created once, stored only as SHA-256 hashes in a JSON-lines file.

A token is ``plt_`` and 32 random bytes in base64url (256 bits), so SHA-256 of it needs no salt
or slow hash: nobody can guess a preimage. The file (``PROVLEDGER_TOKENS_FILE``, or a mounted
Kubernetes secret) holds one JSON object per line::

    {"name": "airflow", "sha256": "<hex>", "scopes": ["emit"], "namespaces": ["etl"], "created_at": "..."}

Scopes: ``read`` (every GET of ledger data), ``emit`` (OpenLineage ingest), ``admin`` (metrics,
``/readyz`` details, and implies ``read``). ``admin`` does not imply ``emit``: an operator's token
should not be able to write history, and each ingested event is sealed with the name of the
token that submitted it (``provledger.submitter``), which should name a writer, not an operator.

Namespaces: an ``emit`` token may name the job namespaces it can emit to (exact names, no
patterns); ingest refuses an event for any other namespace with 403. A line without
``namespaces`` (every file written before they existed) keeps emitting to any namespace, so an
upgrade breaks no running pipeline; ``provledger tokens create`` warns when it creates such a
token. Names are unique among the tokens ``provledger tokens create`` writes, so a sealed
submitter names one token (revoke a token by deleting its line, then create its successor).

The API rereads the file when its modification time changes, so a token created with
``provledger tokens create`` works without a restart. Tokens are compared by hash in constant
time and never logged.
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
#: Longest token name: it is sealed with every event the token submits.
MAX_NAME_CHARS: Final = 100


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
    #: The job namespaces the token may emit to; None (no list in the file) means any.
    namespaces: frozenset[str] | None = None

    def allows(self, scope: Scope) -> bool:
        """Whether the token carries ``scope``; ``admin`` also carries ``read``, never ``emit``."""
        return scope in self.scopes or (scope is Scope.READ and Scope.ADMIN in self.scopes)

    def may_emit_to(self, namespace: str) -> bool:
        """Whether an event of job ``namespace`` is within the token's namespaces."""
        return self.namespaces is None or namespace in self.namespaces


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


def parse_namespaces(text: str | Iterable[str]) -> frozenset[str]:
    """Namespaces from ``etl,ml`` (or a list); ConfigurationError if none or one is not a name."""
    names = text.split(",") if isinstance(text, str) else list(text)
    if not all(isinstance(name, str) for name in names):
        raise ConfigurationError("namespaces must be strings")
    namespaces = frozenset(name.strip() for name in names if name.strip())
    if not namespaces:
        raise ConfigurationError(
            "a namespace list needs at least one namespace (comma-separated); "
            "leave it out for a token that may emit to any namespace"
        )
    for namespace in namespaces:
        if not namespace.isprintable():
            raise ConfigurationError(f"namespace {namespace!r:.80} holds a control character")
    return namespaces


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise ConfigurationError(
            f"a token name is 1 to {MAX_NAME_CHARS} printable characters, not {name!r:.120}: "
            "it is sealed with every event the token submits"
        )


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_token(
    path: Path, scopes: frozenset[Scope], name: str, namespaces: frozenset[str] | None = None
) -> str:
    """Append a new token's hash to ``path`` (created mode 0600) and return the token, shown once.

    ``namespaces`` limits where it may emit (None: anywhere); it needs the ``emit`` scope. The
    name must not be taken by another token of the file: it is what evidence shows as submitter.
    """
    _check_name(name)
    if namespaces is not None and Scope.EMIT not in scopes:
        raise ConfigurationError("namespaces limit where a token may emit: give it the emit scope too")
    if any(entry.name == name for entry in load_tokens(path)):
        raise ConfigurationError(
            f"{str(path)!r} already has a token named {name!r}: names tell submitters apart, "
            "pick another (or delete the old token's line first to replace it)"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    record: dict[str, object] = {
        "name": name,
        "sha256": token_hash(token).hex(),
        "scopes": sorted(scope.value for scope in scopes),
    }
    if namespaces is not None:
        record["namespaces"] = sorted(namespaces)
    record["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    line = json.dumps(record)
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
        namespaces = record.get("namespaces")
        if namespaces is not None and not isinstance(namespaces, list):
            raise ValueError("namespaces is not a list")
        return TokenEntry(
            str(record.get("name", "")),
            digest,
            parse_scopes(record["scopes"]),
            None if namespaces is None else parse_namespaces(namespaces),
        )
    except (ValueError, KeyError, TypeError, AttributeError, ConfigurationError) as exc:
        raise ConfigurationError(
            f"{where} is not a token entry ({exc}); each line must be "
            '{"name": ..., "sha256": "<64 hex>", "scopes": ["read", ...]} '
            'and optionally "namespaces": ["<job namespace>", ...]'
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
