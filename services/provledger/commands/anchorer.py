"""``provledger anchorer``: load its settings, key and witnesses, and run it until it is stopped."""

from __future__ import annotations

from provledger.anchor.app import run_anchorer
from provledger.anchor.tlog_witness import make_witnesses
from provledger.config import AnchorerSettings, load
from provledger.keyfiles import load_signing_key


def anchorer_command() -> int:
    """Run one anchorer replica (active, or standby until the active one's session ends); its exit code."""
    settings = load(AnchorerSettings)
    key = load_signing_key(settings.require_anchorer_key_file(), settings.anchorer_key_name)
    settings.require_database_url()
    settings.require_kafka_bootstrap()
    # PROVLEDGER_WITNESSES is checked here, before any connection: a bad entry stops the start.
    witnesses = make_witnesses()
    return run_anchorer(settings, key, witnesses)
