"""Code the tests share, imported as ``tests.helpers.<module>``: builders, harnesses and references.

``rfc9162_reference`` is the slow, obviously-correct Merkle tree the fast one is checked against;
``ledger_sealing`` seals shards in memory; ``event_strategies`` generates events for hypothesis;
``sealer_harness``, ``api_harness``, ``sealed_ledger``, ``lineage_graph`` and ``emit_consume``
drive the real services and servers for the integration tests.
"""
