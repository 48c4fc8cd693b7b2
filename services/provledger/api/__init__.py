"""The HTTP API: events, evidence, ledger and tlog-tiles reads, OpenLineage ingest.

Serve it with ``provledger api`` (uvicorn, settings from ``PROVLEDGER_*``), or build the ASGI app::

    from provledger.api.app import create_app
    from provledger.config import ApiSettings, load
    app = create_app(load(ApiSettings, database_url="postgresql://...", kafka_bootstrap="host:9092"))

Modules: :mod:`.app` (wiring), :mod:`.events`, :mod:`.ledger`, :mod:`.tlog`, :mod:`.ingest`,
:mod:`.health` (routers), :mod:`.problems` (RFC 9457), :mod:`.auth` and :mod:`.tokens` (bearer
tokens), :mod:`.conn` (bounded database access), :mod:`.publisher` (Kafka), :mod:`.observe`
(metrics and request time limit), :mod:`.server` (uvicorn).
"""
