"""``PROVLEDGER_TSA_*``: which timestamp authorities the anchorer asks, and which roots it trusts."""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from provledger.config import ENV_PREFIX, ProvledgerSettings
from provledger.errors import ConfigurationError

#: Most TSAs one statement is sent to; each adds a token (a few KiB) to every receipt.
MAX_TSAS: Final = 8
DEFAULT_TIMEOUT_S: Final = 10.0


class Rfc3161Settings(ProvledgerSettings):
    """The rfc3161 anchor kind: one token from every TSA in ``PROVLEDGER_TSA_URLS`` per statement."""

    tsa_urls: str = Field(
        "",
        description="Comma-separated http(s) URLs of RFC 3161 timestamp authorities; every statement gets "
        f"one token from each (at most {MAX_TSAS}), and a receipt only when all of them answered.",
    )
    tsa_roots_file: Path | None = Field(
        None,
        description="PEM file of the CA certificates the TSAs' tokens must chain to; the only trust roots "
        "(certificates inside a token are never trusted).",
    )
    tsa_timeout_s: float = Field(
        DEFAULT_TIMEOUT_S,
        gt=0,
        le=120,
        description="Longest one TSA request may take, connecting and reading included; a TSA slower "
        "than this counts as unavailable and the anchorer retries the statement later.",
    )

    @field_validator("tsa_urls")
    @classmethod
    def _http_urls(cls, value: str) -> str:
        urls = [url.strip() for url in value.split(",") if url.strip()]
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        if len(set(urls)) != len(urls):
            raise ValueError("names a TSA twice")
        if len(urls) > MAX_TSAS:
            raise ValueError(f"names {len(urls)} TSAs, at most {MAX_TSAS} are allowed")
        return ",".join(urls)

    def require_urls(self) -> tuple[str, ...]:
        """The TSA URLs, or an error telling the operator how to provide them."""
        if not self.tsa_urls:
            raise ConfigurationError(
                f"{ENV_PREFIX}TSA_URLS is not set: name at least one RFC 3161 timestamp authority "
                "(see README, Timestamp authorities), or run `provledger up`, which starts a local one."
            )
        return tuple(self.tsa_urls.split(","))

    def require_roots_file(self) -> Path:
        """The roots file, or an error: without roots no token can be checked (fail closed)."""
        if self.tsa_roots_file is None:
            raise ConfigurationError(
                f"{ENV_PREFIX}TSA_ROOTS_FILE is not set: point it at a PEM file of the CA certificates "
                "your TSAs chain to; tokens are never trusted on the strength of what they carry."
            )
        return self.tsa_roots_file
