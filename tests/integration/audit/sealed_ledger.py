"""Re-exports ``tests.helpers.sealed_ledger`` for the anchor tests, which still import it by bare name.

Temporary: delete this file and ``tests/integration/audit`` from ``mypy_path`` once the tests in
``tests/integration/anchor/`` import ``tests.helpers.sealed_ledger`` (without ``sys.path``).
"""

from tests.helpers.sealed_ledger import START_US, connected, register, seal_blocks

__all__ = ["START_US", "connected", "register", "seal_blocks"]
