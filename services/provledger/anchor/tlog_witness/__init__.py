"""The anchorer as a C2SP tlog-witness client: shard checkpoints cosigned by independent witnesses (issue 18).

Each tick, after it stored a growth-checked statement, the anchorer sends every shard head of
that statement, as the sealer-signed shard checkpoint (origin ``<log origin>/shard/<n>``), to
every witness in ``PROVLEDGER_WITNESSES``, with a consistency proof from the size that witness
last cosigned, and stores each cosignature line that verifies under the witness's key in
``checkpoint_cosignatures``. A witness that refuses a checkpoint as inconsistent holds another
history of the shard: the anchorer raises its fork alarm and fails closed::

    clients = make_witnesses()                      # from PROVLEDGER_WITNESSES*
    anchorer = Anchorer(pool, key, kinds, topic, options, metrics, clients)
    await anchorer.tick()                           # ... statement, kinds, and witnesses

This is not an :class:`~provledger.anchor.kinds.AnchorKind` and is not in ``ANCHOR_KINDS``: a
kind anchors the anchorer's statement and returns a receipt per statement, whereas a witness
cosigns each shard's own checkpoint (signed by the sealer) and is asked per shard, at the size
it last cosigned. Evidence bundles still carry a ``tlog-witness`` receipt built from the stored
cosignatures, checked offline by :mod:`.verify`.

Modules:

- :mod:`.settings`: ``PROVLEDGER_WITNESSES`` (verifier key and URL per witness), the request
  timeout and the per-shard rate limit;
- :mod:`.client`: one ``add-checkpoint`` exchange, bounded in time and size, its answer verified;
- :mod:`.submitter`: what each witness is sent each tick, 409 re-proving, the fork alarm, storing
  (:mod:`provledger.store.cosignatures`);
- :mod:`.verify`: the receipt check of ``provledger verify``.
"""

from __future__ import annotations

from typing import Any

from provledger.anchor.tlog_witness.client import WitnessClient
from provledger.anchor.tlog_witness.settings import WitnessClientSettings, WitnessEndpoint, parse_witnesses
from provledger.anchor.tlog_witness.submitter import Witnesses, WitnessSubmitter
from provledger.config import load

__all__ = [
    "WitnessClient",
    "WitnessClientSettings",
    "WitnessEndpoint",
    "WitnessSubmitter",
    "Witnesses",
    "make_witnesses",
    "parse_witnesses",
]


def make_witnesses(**overrides: Any) -> list[WitnessClient]:
    """One client per witness of ``PROVLEDGER_WITNESSES`` (``overrides`` by field name); none when unset."""
    settings = load(WitnessClientSettings, **overrides)
    return [
        WitnessClient(endpoint, settings.witnesses_timeout_s, settings.witnesses_min_interval_s)
        for endpoint in settings.endpoints()
    ]
