"""Ethereum JSON-RPC over HTTP: one request at a time, bounded in time and size, errors mapped once.

What can go wrong with a node is decided here: no answer in time, a refused connection, a
non-200 status or a body that is not a JSON-RPC response is
:class:`~provledger.errors.ServiceUnavailable` (retry later); a JSON-RPC ``error`` object is
:class:`RpcError`, carrying the node's code and message, for the caller to judge (an
``already known`` answer to a re-broadcast is success). Nothing above this module sees httpx.

SPEC: JSON-RPC 2.0 section 5: "Either the result member or error member MUST be included, but
both members MUST NOT be included"; "id [...] MUST be the same as the value of the id member in
the Request Object".
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any, Final

import httpx

from provledger.anchor.answers import read_capped
from provledger.anchor.tls import tls_context
from provledger.errors import ProvledgerError, ServiceUnavailable

#: Largest answer read from a node: a block's receipts (eth_getBlockReceipts) of a full mainnet
#: block are a few MiB; a larger answer is refused before it is parsed.
MAX_ANSWER_BYTES: Final = 32 << 20
DEFAULT_TIMEOUT_S: Final = 10.0


class RpcError(ProvledgerError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: object, message: str) -> None:
        super().__init__(f"{method}: the node answered error {code}: {message}")
        self.code = code
        self.message = message


class JsonRpc:
    """A JSON-RPC endpoint; use as an async context manager (one connection pool per use)."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> JsonRpc:
        self._http = httpx.AsyncClient(follow_redirects=False, timeout=None, verify=tls_context())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(self, method: str, *params: Any) -> Any:
        """The ``result`` of ``method(params)``; :class:`RpcError` for an error answer."""
        if self._http is None:
            raise RuntimeError("JsonRpc is used outside its async with block")
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._http.stream("POST", self.url, json=body) as answer:
                    if answer.status_code != 200:
                        raise ServiceUnavailable(
                            f"chain node {self.url} answered HTTP {answer.status_code} to {method}"
                        )
                    raw = await read_capped(
                        answer.aiter_bytes(),
                        MAX_ANSWER_BYTES,
                        lambda: ServiceUnavailable(
                            f"chain node {self.url} sent more than {MAX_ANSWER_BYTES} bytes for {method}"
                        ),
                    )
        except TimeoutError as exc:
            raise ServiceUnavailable(
                f"chain node {self.url} did not answer {method} within {self.timeout_s} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"chain node {self.url} is unreachable: {exc!r}") from exc
        return self._result(method, request_id, raw)

    def _result(self, method: str, request_id: int, raw: bytes) -> Any:
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ServiceUnavailable(f"chain node {self.url} answered {method} with no JSON: {exc}") from exc
        if not isinstance(document, dict) or document.get("id") != request_id:
            raise ServiceUnavailable(f"chain node {self.url} answered {method} with no JSON-RPC response")
        if ("result" in document) == ("error" in document):
            raise ServiceUnavailable(
                f"chain node {self.url} answered {method} with both or neither result and error"
            )
        if "error" in document:
            error = document["error"]
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise RpcError(method, code, message if isinstance(message, str) else repr(error))
        return document["result"]


def quantity(value: object, what: str) -> int:
    """A JSON-RPC QUANTITY (``0x`` hex, no leading zeros) as an int; ServiceUnavailable otherwise."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3 or len(value) > 66:
        raise ServiceUnavailable(f"the chain node's {what} is not a hex quantity: {value!r}")
    try:
        number = int(value[2:], 16)
    except ValueError as exc:
        raise ServiceUnavailable(f"the chain node's {what} is not a hex quantity: {value!r}") from exc
    if value != hex(number):
        raise ServiceUnavailable(f"the chain node's {what} {value!r} is not a QUANTITY in its one spelling")
    return number


def data(value: object, what: str, size: int | None = None) -> bytes:
    """A JSON-RPC DATA (``0x`` hex of whole bytes) as bytes, of ``size`` bytes when given."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise ServiceUnavailable(f"the chain node's {what} is not hex data: {value!r:.80}")
    try:
        decoded = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ServiceUnavailable(f"the chain node's {what} is not hex data: {value!r:.80}") from exc
    if size is not None and len(decoded) != size:
        raise ServiceUnavailable(f"the chain node's {what} is {len(decoded)} bytes, not {size}")
    return decoded
