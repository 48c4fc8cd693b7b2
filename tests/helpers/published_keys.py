"""Published example keys of the signed-note format, with which the tests check our keys and notes."""

from __future__ import annotations

import base64

from provledger.ledger.keys import SigningKey

# The verifier key of the C2SP signed-note specification's example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
# golang.org/x/mod/sumdb/note's documented example keys (PeterNeumann).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"


def go_signing_key() -> SigningKey:
    """The Go example's private key: its string is ``0x01 || seed`` in base64."""
    material = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert material[0] == 0x01
    return SigningKey.from_seed("PeterNeumann", material[1:])
