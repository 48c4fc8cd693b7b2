"""Group encoded events into per-key batches bounded by count, bytes and linger time.

A pure value-in, value-out accumulator: no I/O, no clock of its own, no locks. The emitters own
one and decide which thread touches it; the sender ships what it returns. Batches of one key
come out in the order their events went in, which is what keeps a run's events ordered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from provledger.emit.options import EmitterOptions
from provledger.events.codec import HEADER_SIZE, batch_header, encode_bodies

#: Bytes of a record value besides its event bodies: the single-object header and the two
#: array-block varints (count, end marker), counted with the room a large count needs.
RECORD_OVERHEAD = HEADER_SIZE + 4


@cache
def _header() -> bytes:
    """Magic and fingerprint, computed once: the fingerprint is a CRC-64 over the whole schema."""
    return batch_header()


@dataclass(slots=True)
class Batch:
    """The events of one record: one key, bodies in emit order, sealed once full or lingered."""

    key: bytes
    opened_at: float
    bodies: list[bytes] = field(default_factory=list)
    size: int = RECORD_OVERHEAD

    @property
    def count(self) -> int:
        return len(self.bodies)

    def value(self) -> bytes:
        """The Kafka record value: an ``EventBatch`` in Avro single-object encoding."""
        return encode_bodies(self.bodies, _header())


class Batcher:
    """Open batches by key; :meth:`add` and :meth:`due` hand back the batches that are ready.

    Open batches sit in a dict in the order they were opened, so the oldest (the first to
    reach its linger deadline) is always at the front.
    """

    def __init__(self, options: EmitterOptions) -> None:
        self._max_events = options.max_batch_events
        self._max_bytes = options.max_batch_bytes
        self._linger_s = options.linger_s
        self._open: dict[bytes, Batch] = {}

    def __len__(self) -> int:
        """Events held in open batches."""
        return sum(batch.count for batch in self._open.values())

    def add(self, key: bytes, body: bytes, now: float) -> Batch | None:
        """Add one encoded event; returns the batch it closed (full by count or bytes), if any.

        An event that would push its batch past ``max_batch_bytes`` closes the batch before it
        and starts the next one; an event larger than the limit alone travels alone (the
        options cap the limit below the reader's record limit, and events are bounded).
        """
        batch = self._open.get(key)
        closed = None
        if batch is not None and batch.size + len(body) > self._max_bytes:
            closed = self._open.pop(key)
            batch = None
        if batch is None:
            batch = self._open[key] = Batch(key, now)
        batch.bodies.append(body)
        batch.size += len(body)
        if batch.count >= self._max_events:
            # An open batch holds fewer than max_batch_events, so when the byte limit closed one
            # above, this new batch holds a single event and max_batch_events is above one.
            return self._open.pop(key)
        return closed

    def due(self, now: float) -> Iterator[Batch]:
        """Close and yield, oldest first, every batch that has lingered ``linger_s`` or longer."""
        while self._open:
            key, batch = next(iter(self._open.items()))
            if now - batch.opened_at < self._linger_s:
                return
            del self._open[key]
            yield batch

    def next_deadline(self) -> float | None:
        """When the oldest open batch must be sent, or None when nothing is open."""
        for batch in self._open.values():
            return batch.opened_at + self._linger_s
        return None

    def drain(self) -> list[Batch]:
        """Close every open batch now (flush and close), oldest first."""
        batches = list(self._open.values())
        self._open.clear()
        return batches
