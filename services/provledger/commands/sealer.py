"""``provledger sealer``: load the sealer's settings and run it until it is stopped."""

from __future__ import annotations

from provledger.config import SealerSettings, load
from provledger.sealer.app import run_sealer


def sealer_command() -> int:
    """Run the sealer (it configures its own logging); its exit code."""
    return run_sealer(load(SealerSettings))
