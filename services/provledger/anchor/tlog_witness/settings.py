"""``PROVLEDGER_WITNESSES``: which C2SP tlog-witnesses the anchorer asks to cosign shard checkpoints.

One entry per witness, entries separated by commas or newlines, each the witness's verifier key
and its submission URL separated by whitespace::

    PROVLEDGER_WITNESSES="witness.example/w1+1b2c3d4e+BK... https://w1.example/witness,
                          witness.example/w2+5f6a7b8c+BP... https://w2.example/witness"

The key is what ``provledger witness keys`` prints (a C2SP signed-note verifier key of the
cosignature type 0x04); its name is the witness's name. The URL is the witness's *submission
prefix*: the anchorer posts to ``<url>/add-checkpoint``. Empty or unset means no witness.

    >>> from provledger.ledger.cosignature import cosigner
    >>> from provledger.ledger.keys import SigningKey
    >>> key = cosigner(SigningKey.from_seed("w.example/1", bytes(32))).verifier_key_string()
    >>> [(w.name, w.url) for w in parse_witnesses(f"{key} http://127.0.0.1:8090/")]
    [('w.example/1', 'http://127.0.0.1:8090')]

Rate limit: the witness protocol lets a witness refuse clients that submit too often, and public
witnesses publish how often a log may submit. The anchorer submits each shard's checkpoint at
most once per anchor interval (one submission, plus one more proof after a 409, per tick);
``PROVLEDGER_WITNESSES_MIN_INTERVAL_S`` spaces one witness's submissions of one shard further
apart when a witness asks for it (default 0: once per anchor interval).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from provledger.config import ENV_PREFIX, ProvledgerSettings
from provledger.errors import ConfigurationError, VerificationError
from provledger.ledger.cosignature import CosignatureVerifier

#: Most witnesses one anchorer asks: each costs one request per moved shard per tick.
MAX_WITNESSES: Final = 32
DEFAULT_TIMEOUT_S: Final = 10.0
_ENTRIES: Final = re.compile(r"[,\n]")


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """One configured witness: its cosignature verifier key and submission prefix (no trailing slash)."""

    key: CosignatureVerifier
    url: str

    @property
    def name(self) -> str:
        """The witness's name, its key's name."""
        return self.key.name

    @property
    def key_string(self) -> str:
        """The verifier key as configured, which names the witness in ``checkpoint_cosignatures``."""
        return self.key.verifier_key_string()


def parse_witnesses(text: str) -> tuple[WitnessEndpoint, ...]:
    """The witnesses a ``PROVLEDGER_WITNESSES`` value lists; a ConfigurationError names a bad entry."""
    witnesses: list[WitnessEndpoint] = []
    for number, entry in enumerate((e.strip() for e in _ENTRIES.split(text)), 1):
        if not entry:
            continue
        fields = entry.split()
        where = f"{ENV_PREFIX}WITNESSES entry {number} ({entry[:60]!r})"
        if len(fields) != 2:
            raise ConfigurationError(f"{where}: an entry is `<verifier key> <url>`, separated by a space")
        key_text, url = fields
        try:
            key = CosignatureVerifier.parse(key_text)
        except VerificationError as exc:
            raise ConfigurationError(
                f"{where}: {key_text[:60]!r} is not a witness verifier key (as `provledger witness keys` "
                f"prints it): {exc}"
            ) from exc
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigurationError(
                f"{where}: {url!r} is not an http:// or https:// URL of the witness's submission prefix"
            )
        if any(w.name == key.name for w in witnesses):
            # Names label the metrics and the logs; one name for two keys would blur them.
            raise ConfigurationError(f"{where}: a witness named {key.name} is listed already")
        witnesses.append(WitnessEndpoint(key, url.rstrip("/")))
    if len(witnesses) > MAX_WITNESSES:
        raise ConfigurationError(
            f"{ENV_PREFIX}WITNESSES lists {len(witnesses)} witnesses, at most {MAX_WITNESSES} are allowed"
        )
    return tuple(witnesses)


class WitnessClientSettings(ProvledgerSettings):
    """The anchorer's witnesses: who cosigns the shard checkpoints, how long to wait, how often to ask."""

    witnesses: str = Field(
        "",
        description="Witnesses that cosign shard checkpoints, entries separated by commas or newlines, each "
        "`<verifier key> <url>` (the key as `provledger witness keys` prints it; the URL the witness's "
        "submission prefix). Empty: no witness.",
    )
    witnesses_timeout_s: float = Field(
        DEFAULT_TIMEOUT_S,
        gt=0,
        le=120,
        description="Longest one add-checkpoint request may take, connecting and reading included; a "
        "slower witness counts as unavailable and is asked again after a backoff.",
    )
    witnesses_min_interval_s: float = Field(
        0.0,
        ge=0,
        le=86_400,
        description="Least time between two submissions of one shard's checkpoints to one witness, for "
        "witnesses that rate-limit; 0 means once per anchor interval (the anchorer's pace).",
    )

    @field_validator("witnesses")
    @classmethod
    def _parse(cls, value: str) -> str:
        try:
            parse_witnesses(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from exc
        return value

    def endpoints(self) -> tuple[WitnessEndpoint, ...]:
        """The configured witnesses, in order."""
        return parse_witnesses(self.witnesses)
