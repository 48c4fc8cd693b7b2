"""``provledger tokens create``: make an API token, print it once, keep only its hash."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from provledger.api.tokens import Scope, create_token, parse_namespaces, parse_scopes
from provledger.config import ApiSettings, load
from provledger.errors import ConfigurationError


def create_command(scopes: str, name: str, tokens_file: Path | None, namespaces: str | None = None) -> int:
    """Append the new token's hash to ``tokens_file`` (default PROVLEDGER_TOKENS_FILE), print the token."""
    path = tokens_file or load(ApiSettings).tokens_file
    if path is None:
        raise ConfigurationError(
            "set PROVLEDGER_TOKENS_FILE or pass --tokens-file: where the API reads tokens"
        )
    granted = parse_scopes(scopes)
    allowed = None if namespaces is None else parse_namespaces(namespaces)
    token = create_token(path, granted, name, allowed)
    # The notice goes to stderr, the token alone to stdout, so `TOKEN=$(provledger tokens create ...)` works.
    console = Console(stderr=True, highlight=False, markup=False)
    if Scope.EMIT in granted and allowed is None:
        console.print(
            f"note: token '{name}' may emit to any job namespace; "
            "pass --namespaces to limit it to those it writes"
        )
    console.print(f"token '{name}' added to {path}; it is shown only now, keep it secret:")
    typer.echo(token)
    return 0
