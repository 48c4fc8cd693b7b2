"""Response headers every API answer carries, set once for all routes as a pure ASGI middleware.

- ``X-Content-Type-Options: nosniff`` on every answer: a browser never guesses a type other than
  the one sent (a tile or a problem document is not a script or a page).
- ``Cache-Control: no-store`` on JSON answered to a request that carried credentials, unless the
  route chose its own caching: what a token may read must not stay in a shared or browser cache
  for the next user. Routes whose answers are immutable and meant to be cached (tiles) set their
  own ``Cache-Control``, which is kept.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_JSON_TYPES: Final = ("application/json", "application/problem+json")


class SecurityHeaders:
    """Add the headers above to each HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = any(name.lower() == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                media_type = headers.get("content-type", "").split(";")[0].strip().lower()
                if authenticated and media_type in _JSON_TYPES and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
