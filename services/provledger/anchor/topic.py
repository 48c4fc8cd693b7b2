"""The ``provledger.checkpoints`` topic: where the anchorer publishes each statement, and its memory.

Every statement is published once it is stored: key = the ledger's origin, value = the signed
note exactly as stored, header ``provledger-seq`` = its sequence number. Readers of the topic
(``provledger monitor``, other parties) see every statement; the anchorer itself reads the last
one back when it becomes active. That record lives outside the ledger database, so a database
restored from a backup, which has forgotten the statements made after the dump, cannot hide it:
the anchorer compares the two (:mod:`provledger.anchor.service`).

aiokafka's errors and the OS's are turned into :class:`~provledger.errors.ServiceUnavailable` here,
once; a record that is not a statement is a :class:`~provledger.errors.VerificationError`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from provledger.errors import ServiceUnavailable, VerificationError
from provledger.ledger.checkpoint import Checkpoint, shard_heads
from provledger.ledger.note import parse_note

#: The record header carrying the statement's sequence number, as ASCII decimal.
SEQ_HEADER: Final = "provledger-seq"
_SEQ_RE: Final = re.compile(rb"[1-9][0-9]{0,18}")
#: How long reading the topic's last records may take before the broker counts as unavailable.
READ_TIMEOUT_MS: Final = 15_000


@dataclass(frozen=True, slots=True)
class Published:
    """A statement as the topic holds it: its sequence number and the signed note."""

    seq: int
    note: str


def decode_record(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Published:
    """The statement a record holds, after checking it is one: a seq header and a shard-heads note.

    The note's signature is not checked here (the anchorer's key may have been rotated since);
    the anchorer compares the whole note with the one its database holds for that number.
    """
    seqs = [raw for name, raw in headers if name == SEQ_HEADER]
    if len(seqs) != 1 or not _SEQ_RE.fullmatch(seqs[0]):
        raise VerificationError(f"a checkpoints record has no single decimal {SEQ_HEADER} header: {seqs!r}")
    if value is None:
        raise VerificationError(f"checkpoints record {seqs[0].decode()} has no value")
    note = parse_note(value)
    shard_heads(Checkpoint.parse(note.text))
    return Published(int(seqs[0]), value.decode())


def _decoded(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Published | VerificationError:
    try:
        return decode_record(value, headers)
    except VerificationError as exc:
        return exc


@contextmanager
def _broker(failed: str) -> Iterator[None]:
    try:
        yield
    except (KafkaError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable(
            f"{failed}: {type(exc).__name__}: {exc}. "
            "Check that the brokers in PROVLEDGER_KAFKA_BOOTSTRAP are up"
        ) from exc


class CheckpointTopic:
    """Publishes statements to the checkpoints topic and reads back the newest one there."""

    def __init__(
        self, bootstrap: str, topic: str, client_id: str, security: Mapping[str, Any] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.client_id = client_id
        #: aiokafka's security options (:func:`provledger.kafka_security.client_options`).
        self.security = dict(security or {})
        self._producer: AIOKafkaProducer | None = None

    async def publish(self, seq: int, origin: str, note: str) -> None:
        """Send statement ``seq`` and wait until every in-sync replica has it."""
        with _broker(f"cannot publish statement {seq} to {self.topic}"):
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    acks="all",
                    client_id=f"{self.client_id}-anchorer",
                    **self.security,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()  # a failed start may still hold connections
                    raise
                self._producer = producer
            await self._producer.send_and_wait(
                self.topic, note.encode(), key=origin.encode(), headers=[(SEQ_HEADER, str(seq).encode())]
            )

    async def last_published(self) -> Published | None:
        """The statement with the highest sequence number among each partition's last record.

        None when the topic holds nothing (or does not exist yet): nothing was published.
        """
        consumer = self._consumer("anchorer")
        with _broker(f"cannot read the last statement of {self.topic}"):
            try:
                await consumer.start()
                return await self._read_last(consumer)
            finally:
                await consumer.stop()  # also after a failed start: it may hold connections

    def _consumer(self, role: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            client_id=f"{self.client_id}-{role}",
            request_timeout_ms=READ_TIMEOUT_MS,
            **self.security,
        )

    async def _end_offsets(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
        """Each partition's end offset now (none when the topic does not exist yet)."""
        if self.topic not in await consumer.topics():
            return {}
        partitions = [TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or ()]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends

    async def _read_last(self, consumer: AIOKafkaConsumer) -> Published | None:
        ends = await self._end_offsets(consumer)
        wanted = {tp: end - 1 for tp, end in ends.items() if end > 0}
        if not wanted:
            return None
        consumer.assign(list(wanted))
        for tp, offset in wanted.items():
            consumer.seek(tp, offset)
        last: dict[TopicPartition, Any] = {}
        while len(last) < len(wanted):
            fetched = await consumer.getmany(timeout_ms=READ_TIMEOUT_MS)
            if not fetched:
                raise TimeoutError(f"no record came back from {sorted(set(wanted) - set(last))}")
            for tp, records in fetched.items():
                last.update((tp, r) for r in records if r.offset == wanted[tp])
        found = [decode_record(r.value, list(r.headers)) for r in last.values()]
        return max(found, key=lambda published: published.seq)

    @asynccontextmanager
    async def history(self) -> AsyncIterator[AsyncIterator[tuple[int, Published | VerificationError]]]:
        """Every record the topic holds as this is entered, oldest first: ``(offset, statement)``.

        A record that is not a statement comes as the :class:`VerificationError` saying why, so a
        reader can name it and go on. The end is fixed on entering: records published later are
        not read. ``provledger audit`` enters this before it opens its database snapshot; since
        the anchorer stores a statement before it publishes it, every statement read was stored
        before that snapshot, and one the snapshot lacks was lost by the database.
        """
        consumer = self._consumer("audit")
        try:
            with _broker(f"cannot read {self.topic}"):
                await consumer.start()
            with _broker(f"cannot read the end of {self.topic}"):
                ends = {tp: end for tp, end in (await self._end_offsets(consumer)).items() if end > 0}
            yield self._records(consumer, ends)
        finally:
            await consumer.stop()

    async def _records(
        self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
    ) -> AsyncIterator[tuple[int, Published | VerificationError]]:
        if not ends:
            return
        consumer.assign(list(ends))
        with _broker(f"cannot read {self.topic} from its beginning"):
            await consumer.seek_to_beginning(*ends)
        remaining = dict(ends)
        while True:
            # By position, not by the last offset seen: retention may have emptied a partition,
            # and offsets need not be contiguous.
            with _broker(f"cannot read {self.topic}"):
                for tp in list(remaining):
                    if await consumer.position(tp) >= remaining[tp]:
                        del remaining[tp]
                if not remaining:
                    return
                fetched = await consumer.getmany(*remaining, timeout_ms=READ_TIMEOUT_MS)
                if not fetched:
                    raise TimeoutError(f"no record came back from {sorted(remaining)}")
            for tp, records in fetched.items():
                for r in records:
                    if r.offset < ends[tp]:
                        yield r.offset, _decoded(r.value, list(r.headers))

    async def stop(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
