"""provledger's tests: ``unit`` (pure), ``integration`` (real servers), ``e2e``; shared code: ``helpers``."""
