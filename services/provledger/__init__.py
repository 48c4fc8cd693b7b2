"""provledger."""
