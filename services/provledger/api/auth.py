"""Bearer-token authorisation: a dependency per scope, 401 and 403 as problem details.

SPEC: RFC 6750 section 3: a request without credentials gets 401 with
``WWW-Authenticate: Bearer``; an unknown token gets 401 with ``error="invalid_token"``; a valid
token lacking the scope gets 403 with ``error="insufficient_scope"`` and the ``scope`` needed.
Reads need ``read`` unless ``PROVLEDGER_PUBLIC_READS=true``. The token itself is never logged
or echoed: only the name of the matching entry is kept on the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from provledger.api.problems import ProblemError
from provledger.api.tokens import Scope, TokenEntry, TokenStore

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `provledger tokens create --scopes read,emit,admin`.",
)


_CREDENTIALS = Depends(_bearer)


def require(scope: Scope) -> Callable[..., Awaitable[TokenEntry | None]]:
    """A dependency admitting requests whose token carries ``scope`` (or public reads)."""

    async def check(
        request: Request, credentials: HTTPAuthorizationCredentials | None = _CREDENTIALS
    ) -> TokenEntry | None:
        return _admit(request, credentials, scope)

    return check


def _admit(
    request: Request, credentials: HTTPAuthorizationCredentials | None, scope: Scope
) -> TokenEntry | None:
    """The entry of the request's token if it carries ``scope``; None for a public read; else 401/403."""
    public = scope is Scope.READ and request.app.state.settings.public_reads
    if credentials is None:
        if public:
            return None
        raise ProblemError(
            401,
            "unauthenticated",
            f"{request.url.path} needs a bearer token with the '{scope}' scope: send "
            "'Authorization: Bearer <token>'; an operator creates one with "
            f"`provledger tokens create --scopes {scope}`",
            headers={"WWW-Authenticate": f'Bearer scope="{scope}"'},
        )
    tokens: TokenStore = request.app.state.tokens
    entry = tokens.find(credentials.credentials)
    if entry is None:
        raise ProblemError(
            401,
            "invalid-token",
            "the bearer token is not one this API issued (or it was revoked from the tokens file); "
            "check for a copy-paste error or ask an operator for a new token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if not entry.allows(scope):
        have = ",".join(sorted(s.value for s in entry.scopes))
        raise ProblemError(
            403,
            "insufficient-scope",
            f"token '{entry.name}' has scopes [{have}] but {request.url.path} needs '{scope}': "
            f"create a token with `provledger tokens create --scopes {scope}`",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
    return entry


async def is_operator(
    request: Request, credentials: HTTPAuthorizationCredentials | None = _CREDENTIALS
) -> bool:
    """Whether the request carries a valid token with the admin scope; never refuses a request.

    For endpoints everyone may call (``/readyz``: probes carry no token) that tell operators more.
    """
    if credentials is None:
        return False
    tokens: TokenStore = request.app.state.tokens
    entry = tokens.find(credentials.credentials)
    return entry is not None and entry.allows(Scope.ADMIN)


read_access = require(Scope.READ)
admin_access = require(Scope.ADMIN)


async def emitter(
    request: Request, credentials: HTTPAuthorizationCredentials | None = _CREDENTIALS
) -> TokenEntry:
    """The token of an ingest request, whose name is sealed with its events and whose namespaces bound them.

    ``emit`` is never public, so a request admitted holds a token; no token here is a bug. Ingest
    is served without FastAPI's dependencies (:func:`emit_token`); as a dependency this documents
    the bearer security of its operations in OpenAPI.
    """
    entry = _admit(request, credentials, Scope.EMIT)
    if entry is None:
        raise RuntimeError("an emit request was admitted without a token")
    return entry


async def emit_token(request: Request) -> TokenEntry:
    """What :func:`emitter` gives, for a route served without FastAPI's dependencies (ingest's)."""
    return await emitter(request, await _bearer(request))
