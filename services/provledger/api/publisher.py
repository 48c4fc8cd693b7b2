"""Publish accepted OpenLineage RunEvents to Kafka, answering only once the broker acknowledged.

``acks="all"`` makes the broker confirm replication before :meth:`LineagePublisher.publish`
returns; idempotence stays off because Tansu refuses InitProducerId (ARCHITECTURE.md section 7).
A resend after a failure cannot duplicate ledger entries: the event id of a RunEvent is derived
from its content, and the sealer keeps one copy. The producer starts on first use, so the API
runs (and ``/readyz`` explains) while the broker is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from provledger import logs
from provledger.config import ApiSettings
from provledger.errors import ServiceUnavailable
from provledger.kafka_security import client_options

_log = logs.get_logger(__name__)


class LineagePublisher:
    """A lazily started aiokafka producer for the OpenLineage topic."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._producer: Any = None
        self._lock = asyncio.Lock()

    @property
    def topic(self) -> str:
        return self._settings.topic_openlineage

    async def _started(self) -> Any:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.require_kafka_bootstrap(),
                    client_id=f"{self._settings.kafka_client_id}-api",
                    acks="all",
                    enable_idempotence=False,
                    request_timeout_ms=int(self._settings.kafka_ack_timeout_s * 1000),
                    # A record of PROVLEDGER_MAX_RECORD_BYTES (ingest refuses larger RunEvents), its
                    # key and the request's framing: aiokafka's 1 MB default is less than that.
                    max_request_size=self._settings.max_record_bytes + 64 * 1024,
                    **client_options(self._settings),
                )
                try:
                    async with asyncio.timeout(self._settings.kafka_ack_timeout_s):
                        await producer.start()
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise ServiceUnavailable(self._down(exc)) from exc
                self._producer = producer
            return self._producer

    def _down(self, exc: BaseException) -> str:
        return (
            f"the Kafka broker at {self._settings.kafka_bootstrap} did not acknowledge "
            f"({type(exc).__name__}); "
            "nothing is lost by resending the same RunEvents once it is back: their event ids are derived "
            "from their content, so the ledger keeps one copy"
        )

    async def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Send ``(key, value)`` records and wait until the broker acknowledged every one."""
        producer = await self._started()
        try:
            async with asyncio.timeout(self._settings.kafka_ack_timeout_s):
                pending = [await producer.send(self.topic, value=value, key=key) for key, value in records]
                await asyncio.gather(*pending)
        except (KafkaError, OSError, TimeoutError) as exc:
            _log.warning("openlineage publish failed", topic=self.topic, error=repr(exc))
            raise ServiceUnavailable(self._down(exc)) from exc

    async def check(self, timeout_s: float) -> None:
        """Raise :class:`ServiceUnavailable` unless the broker answers a metadata request in time."""
        producer = await self._started()
        try:
            async with asyncio.timeout(timeout_s):
                await producer.client.fetch_all_metadata()
        except (KafkaError, OSError, TimeoutError) as exc:
            raise ServiceUnavailable(self._down(exc)) from exc

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
