"""Run the API under uvicorn: ``provledger api`` in the foreground, or in a thread for ``provledger up``."""

from __future__ import annotations

import threading
import time

import uvicorn

from provledger import logs
from provledger.api.app import create_app
from provledger.config import ApiSettings, masked
from provledger.errors import ServiceUnavailable

_log = logs.get_logger(__name__)


def _server(settings: ApiSettings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # keep provledger's log format (provledger.logs); headers are never logged
        proxy_headers=False,
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(settings: ApiSettings) -> int:
    """Serve until SIGINT or SIGTERM (uvicorn's handlers); the exit status of ``provledger api``."""
    _log.info("starting api", settings=masked(settings))
    _server(settings).run()
    return 0


class BackgroundApi:
    """The API served from a thread of this process, for the all-in-one ``provledger up``."""

    def __init__(self, settings: ApiSettings, start_timeout_s: float = 15.0) -> None:
        self._server = _server(settings)
        self._thread = threading.Thread(target=self._server.run, name="provledger-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServiceUnavailable(
                    f"the API did not start on {settings.api_host}:{settings.api_port} (port in use?)"
                )
            time.sleep(0.05)

    @property
    def url(self) -> str:
        """``http://host:port`` the API listens on (the real port when 0 was asked)."""
        server = self._server.servers[0].sockets[0].getsockname()
        return f"http://{server[0]}:{server[1]}"

    def stop(self) -> None:
        """Finish in-flight requests and stop serving."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
