"""Ask RFC 3161 timestamp authorities for tokens over HTTP, and keep only tokens that check out.

What can go wrong with a TSA is decided here, once: no answer in time, a refused connection or a
non-200 status is :class:`~provledger.errors.ServiceUnavailable` (retry later); an answer that is
not a granted, well-signed token for our request is :class:`~provledger.errors.VerificationError`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Final

import httpx
from cryptography import x509
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from provledger.anchor.answers import read_capped
from provledger.anchor.rfc3161.verify import MAX_RESPONSE_BYTES, accept_answer
from provledger.anchor.tls import tls_context
from provledger.errors import ProvledgerError, ServiceUnavailable, VerificationError

QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"


class TsaClient:
    """One TSA: builds the query, posts it, checks the answer against the operator's roots."""

    def __init__(self, url: str, roots: Sequence[x509.Certificate], timeout_s: float) -> None:
        self.url = url
        self.roots = tuple(roots)
        self.timeout_s = timeout_s

    async def timestamp(self, statement: str, http: httpx.AsyncClient) -> bytes:
        """A checked DER TimeStampResp over ``statement``, in its canonical envelope, within ``timeout_s``."""
        # SPEC RFC 3161 2.4.1: "The nonce, if included, allows the client to verify the timeliness
        # of the response when no local clock is available. The nonce is a large random number with
        # a high probability that the client generates it only once". certReq true: "the TSA's
        # public key certificate [...] MUST be provided by the TSA in the certificates field".
        request = (
            TimestampRequestBuilder()
            .data(statement.encode())
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        nonce = request.nonce
        if nonce is None or request.message_imprint.message != hashlib.sha256(statement.encode()).digest():
            raise RuntimeError("rfc3161-client built a query without a nonce or with another imprint")
        answer = await self._post(http, request.as_bytes())
        try:
            return accept_answer(answer, statement, self.roots, nonce)
        except VerificationError as exc:
            raise VerificationError(f"TSA {self.url}: {exc}") from exc

    async def _post(self, http: httpx.AsyncClient, query: bytes) -> bytes:
        headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE, "Accept-Encoding": "identity"}
        try:
            async with asyncio.timeout(self.timeout_s):
                async with http.stream("POST", self.url, content=query, headers=headers) as answer:
                    self._check_head(answer)
                    return await self._read_capped(answer)
        except TimeoutError as exc:
            raise ServiceUnavailable(f"TSA {self.url} did not answer within {self.timeout_s} s") from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"TSA {self.url} is unreachable: {exc!r}") from exc

    def _check_head(self, answer: httpx.Response) -> None:
        if answer.status_code != 200:
            raise ServiceUnavailable(f"TSA {self.url} answered HTTP {answer.status_code}, not a token")
        media_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != REPLY_TYPE:
            raise VerificationError(
                f"TSA {self.url} answered {media_type or 'no content type'}, not {REPLY_TYPE}"
            )
        if answer.headers.get("content-encoding", "identity").lower() != "identity":
            raise VerificationError(f"TSA {self.url} answered with a content encoding we did not accept")
        length = answer.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_RESPONSE_BYTES):
            raise VerificationError(
                f"TSA {self.url} announced {length!r} bytes, more than {MAX_RESPONSE_BYTES}"
            )

    async def _read_capped(self, answer: httpx.Response) -> bytes:
        return await read_capped(
            answer.aiter_raw(),
            MAX_RESPONSE_BYTES,
            lambda: VerificationError(f"TSA {self.url} sent more than {MAX_RESPONSE_BYTES} bytes"),
        )


async def timestamp_all(clients: Sequence[TsaClient], statement: str) -> tuple[bytes, ...]:
    """One checked token from every TSA, in order, or an error naming each TSA that failed.

    All are asked at once. One lying TSA makes the whole a :class:`VerificationError`; otherwise
    any TSA that is away makes it :class:`ServiceUnavailable`, and the statement is retried later.
    """
    # Each TsaClient bounds its whole exchange with asyncio.timeout, so httpx needs no limits of its own.
    async with httpx.AsyncClient(follow_redirects=False, timeout=None, verify=tls_context()) as http:
        results = await asyncio.gather(
            *(c.timestamp(statement, http) for c in clients), return_exceptions=True
        )
    tokens = [r for r in results if isinstance(r, bytes)]
    if len(tokens) == len(results):
        return tuple(tokens)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, ProvledgerError):
            raise failure  # a bug, not a TSA's behaviour: let it surface as it is
    reasons = "; ".join(map(str, failures))
    if any(isinstance(f, VerificationError) for f in failures):
        raise VerificationError(f"no rfc3161 receipt: {reasons}")
    raise ServiceUnavailable(f"no rfc3161 receipt: {reasons}")
