"""``provledger tokens create``: make an API token, print it once, keep only its hash."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from provledger.api.tokens import create_token, parse_scopes
from provledger.config import ApiSettings, load
from provledger.errors import ConfigurationError


def create_command(scopes: str, name: str, tokens_file: Path | None) -> int:
    """Append the new token's hash to ``tokens_file`` (default PROVLEDGER_TOKENS_FILE), print the token."""
    path = tokens_file or load(ApiSettings).tokens_file
    if path is None:
        raise ConfigurationError(
            "set PROVLEDGER_TOKENS_FILE or pass --tokens-file: where the API reads tokens"
        )
    token = create_token(path, parse_scopes(scopes), name)
    # The notice goes to stderr, the token alone to stdout, so `TOKEN=$(provledger tokens create ...)` works.
    Console(stderr=True).print(
        f"token '{name}' added to {path}; it is shown only now, keep it secret:", highlight=False
    )
    typer.echo(token)
    return 0
