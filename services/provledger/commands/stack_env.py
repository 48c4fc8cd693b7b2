"""The ``export`` lines ``provledger up`` prints and writes, so another terminal reaches its stack.

A training script started in a second terminal should emit to the running stack without hunting
for ports: ``up`` prints these lines and writes them to ``<data dir>/env.sh``, which
``source .provledger/env.sh`` loads. Each variable is one the SDK, the CLI or an OpenLineage client
already reads (``PROVLEDGER_KAFKA_BOOTSTRAP`` for the SDK and ``provledger emit``,
``PROVLEDGER_DATABASE_URL`` for ``audit`` and ``tokens``, ``OPENLINEAGE_URL`` for OpenLineage's
HTTP transport), plus the API's and the page's address for ``curl`` and the browser.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: Where, under the data directory, ``up`` writes the lines.
ENV_FILE: Final = Path("env.sh")


@dataclass(frozen=True, slots=True)
class StackAddresses:
    """Where the running stack's parts answer."""

    kafka_bootstrap: str
    database_url: str
    api_url: str  # without a trailing slash
    log_origin: str


def export_lines(addresses: StackAddresses) -> list[str]:
    """``export NAME=value`` lines, each value quoted for a POSIX shell (a URL may hold ``&`` or ``$``)."""
    variables = {
        "PROVLEDGER_KAFKA_BOOTSTRAP": addresses.kafka_bootstrap,
        "PROVLEDGER_DATABASE_URL": addresses.database_url,
        "PROVLEDGER_API_URL": addresses.api_url,
        "PROVLEDGER_LOG_ORIGIN": addresses.log_origin,
        "OPENLINEAGE_URL": addresses.api_url,  # the OpenLineage HTTP transport posts to /api/v1/lineage
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]


def write_env_file(data_dir: Path, lines: list[str]) -> Path:
    """Write the lines to ``<data_dir>/env.sh``, owner-only: the database URL may hold a password."""
    path = data_dir / ENV_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# written by `provledger up`: the running stack's addresses; `source` this file\n")
        out.write("\n".join(lines) + "\n")
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC
    return path
