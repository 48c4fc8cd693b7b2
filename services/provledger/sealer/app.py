"""``provledger sealer``: the faust-streaming worker that feeds :class:`~.core.Sealer`.

Faust gives us the consumer group (partitions move between sealers on rebalance) and batched
streams; the sealer gives Faust nothing to commit. The source topic is declared with
``acks=False``, so Kafka never holds an offset for this group and Postgres alone says where each
shard resumes (:mod:`.core` seeks the consumer there). One agent consumes both ingested topics;
each ``take_events`` batch is decoded and split by partition, and the batches decoded while a
block is written are sealed together in the next block of each shard (:mod:`.pipeline`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from provledger import logs
from provledger.config import SealerSettings, masked
from provledger.errors import ConfigurationError
from provledger.events import compiled
from provledger.kafka_security import client_options, faust_credentials
from provledger.keyfiles import load_signing_key
from provledger.ledger.keys import SigningKey, TrustedKey
from provledger.sealer.core import Prepared, Sealer, SealerOptions, now_micros
from provledger.sealer.deadletter import KafkaDeadLetters, max_request_bytes
from provledger.sealer.intake import SourceRecord
from provledger.sealer.metrics import SealerMetrics
from provledger.sealer.pgstore import PoolShardStore, check_log_origin
from provledger.sealer.pipeline import GroupCommitter
from provledger.sealer.tuning import collect_garbage_less_often, return_large_buffers_to_the_os
from provledger.store.db import create_pool
from provledger.store.keys import check_signing_key

_log = logs.get_logger(__name__)

#: Bytes of record values that Faust's stream buffer and the take being filled may hold together,
#: counted as if every record were as large as the sealer accepts: a flood of refused 1 MiB records
#: held 446 MiB with a buffer of 200 records and takes of 100, and 279 MiB with 64 and 32
#: (``benchmarks/bench_flood.py``; the sealer's memory limit in deploy/ is 512 MiB).
RECORD_BUFFER_BYTES = 48 << 20


@dataclass(frozen=True)
class TakeSizes:
    """How many records a take holds, and how many Faust buffers ahead of it."""

    take: int
    buffered: int

    @classmethod
    def sized(cls, batch_max_records: int, max_record_bytes: int) -> TakeSizes:
        """Two takes ahead keep the decoder fed, within :data:`RECORD_BUFFER_BYTES` of the largest records.

        At the defaults (100 records, 1 MiB) this takes 16 records and buffers 32: a record of 1000
        events is ~350 KB, so a take still fills a block, and a backlog of such records sealed as
        fast (``benchmarks/bench_seal.py``).
        """
        fit = max(3, RECORD_BUFFER_BYTES // max_record_bytes)
        take = min(batch_max_records, fit // 3)
        return cls(take=take, buffered=2 * take)


def _partitions(tps: Iterable[Any]) -> list[tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in tps]


def limit_fetch_wait(consumer: AIOKafkaConsumer, milliseconds: int) -> None:
    """Make a started consumer's fetches wait at most ``milliseconds`` at the broker.

    Faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no setting to change
    it. Kafka answers a fetch as soon as records arrive, but nothing in the protocol obliges a
    broker to (Tansu waits the whole time), and then every record can wait 1.5 s before the
    sealer sees it: at 5,000 events/s the seal latency p50 was 1.5 s with 1500 and 0.3 s with 100.
    aiokafka reads the value from its fetcher for every request, so this applies from the next one.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        raise RuntimeError("this aiokafka keeps its fetch wait elsewhere: update limit_fetch_wait")
    fetcher._fetch_max_wait_ms = milliseconds


def _source(event: Any) -> SourceRecord:
    message = event.message
    timestamp = getattr(message, "timestamp", None)
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=None if timestamp is None else int(timestamp * 1000),
        key=message.key,
        value=message.value,
    )


class SealerRuntime:
    """What the worker owns: the database pool, the dead-letter producer, the sealer, the metrics server."""

    def __init__(self, settings: SealerSettings, key: SigningKey, app: faust.App) -> None:
        self.settings = settings
        self.key = key
        self.app = app
        self.sealer: Sealer | None = None
        #: The running agent's, so a rebalance can drop what it holds of revoked partitions.
        self.committer: GroupCommitter | None = None
        self._started = asyncio.Lock()
        self._producer: AIOKafkaProducer | None = None
        self._web: web.AppRunner | None = None
        #: Why the sealer stood down (its key retired, another log's shard), if it did.
        self.stood_down: ConfigurationError | None = None

    def stand_down(self, reason: ConfigurationError) -> None:
        """Stop the worker for good: sealing on would sign blocks that fail verification.

        Faust's supervisor would restart a crashed agent, so the worker is sent SIGTERM (a clean
        shutdown: nothing uncommitted is kept) and :func:`run_sealer` exits with the reason.
        """
        if self.stood_down is None:
            self.stood_down = reason
            _log.error("the sealer stands down", reason=str(reason))
            os.kill(os.getpid(), signal.SIGTERM)

    async def ensure_started(self) -> Sealer:
        async with self._started:
            if self.stood_down is not None:
                raise self.stood_down
            if self.sealer is None:
                try:
                    self.sealer = await self._start()
                except ConfigurationError as exc:
                    self.stand_down(exc)
                    raise
        return self.sealer

    async def _start(self) -> Sealer:
        s = self.settings
        pool = await create_pool(s.require_database_url(), max_size=s.write_connections)
        async with pool.acquire() as conn:
            validity = await check_signing_key(conn, self.key.verifier, now_micros())
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.require_kafka_bootstrap(),
            acks="all",
            client_id=f"{s.kafka_client_id}-dead-letters",
            # Every record the sealer accepts can go back out as a dead letter, headers included.
            max_request_size=max_request_bytes(s.max_record_bytes),
            **client_options(s),
        )
        await self._producer.start()
        metrics = SealerMetrics()
        sealer = Sealer(
            PoolShardStore(pool),
            self.key,
            SealerOptions(s.log_origin, s.topic_openlineage, s.max_record_bytes),
            KafkaDeadLetters(self._producer, s.topic_dead_letter, metrics),
            seek=self._seek,
            metrics=metrics,
            validity=validity,
        )
        await self._serve_metrics(sealer)
        return sealer

    async def _seek(self, topic: str, partition: int, offset: int) -> None:
        _log.info(
            "seeking consumer to the offset Postgres holds", topic=topic, partition=partition, offset=offset
        )
        await self.app.consumer.seek(faust.types.TP(topic, partition), offset)

    async def _serve_metrics(self, sealer: Sealer) -> None:
        async def metrics(_: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(sealer.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def readyz(_: web.Request) -> web.Response:
            ready = sealer.metrics.ready._value.get() == 1
            return web.json_response({"ready": ready}, status=200 if ready else 503)

        server = web.Application()
        server.add_routes(
            [web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)]
        )
        self._web = web.AppRunner(server, access_log=None)
        await self._web.setup()
        await web.TCPSite(self._web, "0.0.0.0", self.settings.metrics_port).start()
        _log.info("metrics listening", port=self.settings.metrics_port)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._web is not None:
            await self._web.cleanup()


def build_app(settings: SealerSettings, key: SigningKey, datadir: Path) -> tuple[faust.App, SealerRuntime]:
    """The Faust app with its one agent, and the runtime it drives.

    ``datadir`` is where Faust makes its directories (for tables, which the sealer has none of);
    Faust's default is ``<group>-data`` in the working directory, which left an empty folder in
    every checkout ``provledger up`` ran in.
    """
    sizes = TakeSizes.sized(settings.batch_max_records, settings.max_record_bytes)
    app = faust.App(
        settings.consumer_group,
        datadir=str(datadir),
        broker=[f"kafka://{address.strip()}" for address in settings.require_kafka_bootstrap().split(",")],
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Records wait here between fetch and take_events, and Faust pauses a partition's fetches
        # only once this queue is 80% full: sized in records, it bounds the sealer's memory.
        # Faust's default of 4096 held ~3,300 records under a backlog, 57 MiB more peak RSS for
        # no more events/s.
        stream_buffer_maxsize=sizes.buffered,
        broker_client_id=f"{settings.kafka_client_id}-sealer",
        broker_credentials=faust_credentials(settings),  # TLS and SASL, as every client's
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    )
    runtime = SealerRuntime(settings, key, app)
    topics = app.topic(
        settings.topic_events,
        settings.topic_openlineage,
        value_serializer="raw",
        key_serializer="raw",
        acks=False,
    )

    async def commit(sealer: Sealer, prepared: list[Prepared]) -> None:
        try:
            await sealer.commit(prepared)
        except ConfigurationError as exc:  # at once: the committer would raise it only at the next batch
            runtime.stand_down(exc)
            raise
        for batch in prepared:
            sealer.observe_lag(batch.tp, app.consumer.highwater(faust.types.TP(*batch.tp)))

    @app.agent(topics)
    async def seal(stream: faust.StreamT[bytes]) -> None:
        sealer = await runtime.ensure_started()
        committer = runtime.committer = GroupCommitter(
            functools.partial(commit, sealer), settings.block_interval_ms / 1000, settings.max_pending_events
        )
        try:
            async for batch in cast("faust.Stream[bytes]", stream).take_events(
                sizes.take, within=settings.batch_linger_ms / 1000
            ):
                await committer.submit(await sealer.prepare([_source(event) for event in batch]))
        finally:
            await committer.close()

    # Faust calls signal receivers as receiver(sender, *args, signal=..., **kwargs).
    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked = _partitions(args[0])
        if runtime.committer is not None:
            runtime.committer.forget(revoked)
        if runtime.sealer is not None:
            runtime.sealer.forget(revoked)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        limit_fetch_wait(cast(Any, app.consumer)._thread._ensure_consumer(), settings.fetch_max_wait_ms)
        sealer = await runtime.ensure_started()
        try:
            await sealer.load(_partitions(args[0]))
        except ConfigurationError as exc:  # a shard of another log
            runtime.stand_down(exc)
            raise

    @app.on_before_shutdown.connect
    async def on_shutdown(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await runtime.stop()

    return app, runtime


async def _preflight(database_url: str, key: SigningKey, log_origin: str) -> TrustedKey:
    """The key's registered range, once the key and every shard head are found to be this sealer's."""
    pool = await create_pool(database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            validity = await check_signing_key(conn, key.verifier, now_micros())
            await check_log_origin(conn, log_origin)
            return validity
    finally:
        await pool.close()


def run_sealer(settings: SealerSettings) -> int:
    """Run the worker until SIGINT or SIGTERM."""
    key = load_signing_key(settings.require_signing_key_file(), settings.signing_key_name)
    settings.require_database_url()
    logs.configure(settings.log_level, settings.log_format)
    return_large_buffers_to_the_os()
    _log.info(
        "sealer starting",
        settings=masked(settings),
        key=key.verifier.verifier_key_string(),
        reader="compiled"
        if compiled.COMPILED
        else "pure Python (build: python -m provledger.events.compiled)",
    )
    # Fail before joining the group: a key not registered (or retired) by `provledger keys rotate`
    # would sign blocks that fail verification, and shards of another log must not be extended.
    asyncio.run(_preflight(settings.require_database_url(), key, settings.log_origin))
    # The sealer keeps no state of its own (Postgres says where each shard resumes): Faust's
    # directories go in a temporary one, removed when the worker exits.
    with tempfile.TemporaryDirectory(prefix="provledger-sealer-") as datadir:
        app, runtime = build_app(settings, key, Path(datadir))
        worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False)
        collect_garbage_less_often()
        try:
            worker.execute_from_commandline()
        except SystemExit:
            if runtime.stood_down is not None:
                raise runtime.stood_down from None  # the CLI prints it and exits with status 2
            raise
