"""``provledger anchorer``: load the anchorer's settings and key, and run it until it is stopped."""

from __future__ import annotations

from provledger.anchor.app import run_anchorer
from provledger.config import AnchorerSettings, load
from provledger.keyfiles import load_signing_key


def anchorer_command() -> int:
    """Run one anchorer replica (active, or standby until the active one's session ends); its exit code."""
    settings = load(AnchorerSettings)
    key = load_signing_key(settings.require_anchorer_key_file(), settings.anchorer_key_name)
    settings.require_database_url()
    settings.require_kafka_bootstrap()
    return run_anchorer(settings, key)
