"""Timestamp tokens for the unit tests: a throwaway CA and TSA under tmp, ``openssl ts -reply`` without HTTP.

The tokens are real (the local TSA's own ``openssl`` reply), only the network is left out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from cryptography import x509
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from provledger.anchor.rfc3161.verify import load_roots
from provledger.local.tsa import TsaFiles, make_tsa_pki, openssl_reply

#: ``(tsa, statement, hash algorithm) -> (TSA answer, request nonce)``.
IssueToken = Callable[..., Awaitable[tuple[bytes, int]]]


@pytest.fixture(scope="session")
def unit_tsa(tmp_path_factory: pytest.TempPathFactory) -> TsaFiles:
    """The TSA whose CA the tests trust."""
    return make_tsa_pki(tmp_path_factory.mktemp("unit-tsa"), "unit")


@pytest.fixture(scope="session")
def stranger_tsa(tmp_path_factory: pytest.TempPathFactory) -> TsaFiles:
    """A TSA of another CA, which the tests do not trust."""
    return make_tsa_pki(tmp_path_factory.mktemp("stranger-tsa"), "stranger")


@pytest.fixture(scope="session")
def unit_roots(unit_tsa: TsaFiles) -> tuple[x509.Certificate, ...]:
    """The trusted roots: the unit TSA's CA alone."""
    return load_roots(unit_tsa.ca_cert)


@pytest.fixture(scope="session")
def issue_token() -> IssueToken:
    """Ask a TSA (by its files) for a token over a statement, as the client would."""

    async def issue(
        tsa: TsaFiles, statement: str, hash_algorithm: HashAlgorithm = HashAlgorithm.SHA256
    ) -> tuple[bytes, int]:
        request = TimestampRequestBuilder().data(statement.encode()).hash_algorithm(hash_algorithm).build()
        assert request.nonce is not None
        return await openssl_reply(tsa, request.as_bytes()), request.nonce

    return issue
