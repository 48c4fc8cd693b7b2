"""``provledger anchorer``: build the anchorer from its settings and run it until SIGINT or SIGTERM.

Wiring only: the settings name the anchor kinds, looked up in
:data:`provledger.anchor.kinds.ANCHOR_KINDS`, and the witnesses (:mod:`.tlog_witness`, built by
the command from ``PROVLEDGER_WITNESSES``); the loop is :class:`~.service.Anchorer`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

from provledger import logs
from provledger.anchor.kinds import ANCHOR_KINDS, AnyAnchorKind
from provledger.anchor.leader import Leadership
from provledger.anchor.metrics import AnchorerMetrics, serve_metrics
from provledger.anchor.service import Anchorer, AnchorerOptions
from provledger.anchor.tlog_witness import WitnessClient
from provledger.anchor.topic import CheckpointTopic
from provledger.config import AnchorerSettings, masked
from provledger.errors import ConfigurationError
from provledger.kafka_security import client_options
from provledger.ledger.keys import SigningKey
from provledger.store import anchors
from provledger.store.db import create_pool

_log = logs.get_logger(__name__)


def build_kinds(names: tuple[str, ...]) -> list[AnyAnchorKind]:
    """The configured anchor kinds, each built from its own settings; unknown names are an error."""
    unknown = [name for name in names if name not in ANCHOR_KINDS]
    if unknown:
        raise ConfigurationError(
            f"PROVLEDGER_ANCHOR_KINDS names unknown anchor kinds {unknown}; known: {sorted(ANCHOR_KINDS)}"
        )
    return [ANCHOR_KINDS[name]() for name in names]


async def serve(
    settings: AnchorerSettings,
    key: SigningKey,
    kinds: list[AnyAnchorKind],
    witnesses: Sequence[WitnessClient] = (),
) -> None:
    """Run one anchorer replica (active or standby) with its metrics server until signalled."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    dsn = settings.require_database_url()
    pool = await create_pool(dsn)
    topic = CheckpointTopic(
        settings.require_kafka_bootstrap(),
        settings.topic_checkpoints,
        settings.kafka_client_id,
        client_options(settings),
    )
    leadership = Leadership(dsn)
    metrics = AnchorerMetrics(tuple(kind.name for kind in kinds))
    options = AnchorerOptions(settings.log_origin, settings.anchor_interval_s, settings.anchor_heartbeat_s)
    anchorer = Anchorer(pool, key, kinds, topic, options, metrics, witnesses)
    web = None
    try:
        async with pool.acquire() as conn:  # refuse the sealer's key before standing by
            await anchors.register_anchorer_key(conn, key.verifier)
        web = await serve_metrics(metrics, settings.metrics_port, lambda: anchorer.ready)
        _log.info("anchorer metrics listening", port=settings.metrics_port)
        await anchorer.run(leadership, stop)
    finally:
        await leadership.release()
        await topic.stop()
        await pool.close()
        if web is not None:
            await web.cleanup()


def run_anchorer(settings: AnchorerSettings, key: SigningKey, witnesses: Sequence[WitnessClient] = ()) -> int:
    """Build the kinds, log the settings once, and run (with ``witnesses``) until SIGINT or SIGTERM."""
    kinds = build_kinds(settings.kind_names())
    logs.configure(settings.log_level, settings.log_format)
    _log.info("anchorer starting", settings=masked(settings), key=key.verifier.verifier_key_string(),
              kinds=[kind.name for kind in kinds],
              witnesses=[w.endpoint.key_string for w in witnesses])  # fmt: skip
    if not kinds:
        _log.warning("no anchor kinds configured: statements are only stored and published to the topic")
    asyncio.run(serve(settings, key, kinds, witnesses))
    return 0
