"""eth-account's signer, imported without letting it lift Python's recursion limit.

eth-account pulls in py_ecc, whose import sets ``sys.setrecursionlimit(100000)`` for the whole
process. The C JSON decoder's only guard against nesting is that limit: under 100,000, a body of
100,000 ``[`` (a JSON-RPC answer, a witness's or a client's) overflows the C stack and kills the
process with a segmentation fault instead of raising ``RecursionError``. Every module of provledger
takes ``Account`` from here, which puts the limit back as it found it.
"""

from __future__ import annotations

import sys

_limit = sys.getrecursionlimit()
try:
    from eth_account import Account
    from eth_account.signers.local import LocalAccount
finally:
    sys.setrecursionlimit(_limit)

__all__ = ["Account", "LocalAccount"]
