"""The ledger package stays pure: no network, no asyncio, no database, even running its examples.

The docstring examples themselves run as doctests (``--doctest-modules`` in pyproject.toml).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Runs in a fresh interpreter: asyncio cannot be imported, sockets cannot be created, and after
# importing every ledger module and running the package example, only the standard library,
# cryptography and provledger.errors may have been loaded.
PURITY_PROBE = textwrap.dedent(
    """
    import doctest, importlib, pkgutil, socket, sys

    class NoAsyncio:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "asyncio":
                raise ImportError("the ledger must not import asyncio")
            return None

    sys.meta_path.insert(0, NoAsyncio())

    def no_socket(*args, **kwargs):
        raise OSError("the ledger must not open sockets")

    socket.socket = no_socket
    socket.create_connection = no_socket
    before = set(sys.modules)

    import provledger.ledger
    for module in pkgutil.iter_modules(provledger.ledger.__path__):
        importlib.import_module(f"provledger.ledger.{module.name}")
    failed, attempted = doctest.testmod(provledger.ledger)
    assert attempted and not failed, (failed, attempted)

    # _openssl and _cffi_backend are cryptography's own compiled bindings; Crypto is pycryptodome
    # (loading its C code through cffi and pycparser), whose Keccak-256 the evm receipt proofs
    # need: hashlib has only SHA3-256, which pads differently.
    allowed_top = set(sys.stdlib_module_names) | {"cryptography", "_openssl", "_cffi_backend", "provledger"}
    allowed_top |= {"Crypto", "cffi", "pycparser"}
    allowed_own = ("provledger", "provledger.errors", "provledger.ledger")
    for name in sorted(set(sys.modules) - before):
        top = name.split(".")[0]
        if top not in allowed_top:
            raise SystemExit(f"ledger imported the third-party module {name}")
        if top == "provledger" and not (name in allowed_own or name.startswith("provledger.ledger.")):
            raise SystemExit(f"ledger imported {name}, outside the pure core")
    print("pure")
    """
)


def test_ledger_imports_no_network_asyncio_or_database() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-c", PURITY_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == "pure"
