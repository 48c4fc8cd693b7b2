"""One TLS context for every call the anchorer makes to parties outside (TSAs, witnesses, chains).

Building a context loads the whole CA bundle, about 27 ms of CPU: more than an anchor tick's own
work at a few shards. An ``httpx.AsyncClient`` built without one builds its own, so each client
the anchorer opens takes this shared context instead. The context verifies certificates and host
names as httpx's default does (certifi's roots); it holds no per-connection state, so sharing it
across clients and event loops is safe.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The default verifying TLS context, built once per process."""
    return httpx.create_ssl_context()
