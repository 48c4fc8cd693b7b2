"""``PROVLEDGER_LOCAL_SERVERS``: which kind of local server ``provledger up`` starts where none is given."""

from __future__ import annotations

from pydantic import Field

from provledger.config import ProvledgerSettings
from provledger.local.stack import Mode


class LocalServersSettings(ProvledgerSettings):
    """The local servers' kind; ``load`` names the variable and the accepted values when it is wrong."""

    local_servers: Mode = Field(
        "auto",
        description="auto: testcontainers where a Docker engine answers, else embedded; containers: "
        "testcontainers or fail; embedded: the embedded Postgres and Tansu broker, never asking Docker. "
        "Servers named by PROVLEDGER_DATABASE_URL / PROVLEDGER_KAFKA_BOOTSTRAP are used whatever this says.",
    )
