"""``provledger api``: load the API's settings, configure logging, serve until stopped."""

from __future__ import annotations

from provledger import logs
from provledger.api.server import serve
from provledger.config import ApiSettings, load


def api_command() -> int:
    """Serve the HTTP API; its exit code."""
    settings = load(ApiSettings)
    logs.configure(settings.log_level, settings.log_format)
    return serve(settings)
