"""Walk Avro bytes under their writer schema and check every count and length before decoding.

A generic decoder builds what the bytes say: a megabyte of empty attributes is half a million
Python dicts (~131 MiB) before any rule can refuse the first one, and a record at the size limit
would then kill the sealer, which reads it again after every restart. So the general path first
walks the body here, building no object: each array's item count (summed over its blocks) must
be within the limit of :mod:`provledger.events.limits` for that field, each string and bytes
value within the longest any field allows, and the walk must end exactly at the end of the body.
It returns where each event of the batch starts and ends, so the caller decodes one event at a
time and memory is bounded by one event, whatever the record holds.

SPEC (Avro 1.11 "Binary Encoding", complex types): "Arrays are encoded as a series of blocks.
Each block consists of a long count value, followed by that many array items. A block with
count zero indicates the end of the array. [...] If a block's count is negative, its absolute
value is used, and the count is followed immediately by a long block size indicating the number
of bytes in the block."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from provledger.errors import InvalidEvent
from provledger.events.limits import (
    MAX_ARTIFACTS,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_BATCH_EVENTS,
    MAX_OPENLINEAGE_BYTES,
    time_in_range,
)

#: Most items of an array (or entries of a map) by the name of the field that holds it; an
#: array under a field not named here (a future schema's) gets the smallest limit.
ITEM_LIMITS: Final[Mapping[str, int]] = {
    "events": MAX_BATCH_EVENTS,
    "inputs": MAX_ARTIFACTS,
    "outputs": MAX_ARTIFACTS,
    "attributes": MAX_ATTRIBUTES,
}
_DEFAULT_ITEMS: Final = min(ITEM_LIMITS.values())
#: Longest string and bytes value of any field; each field's own limit is checked once decoded.
MAX_STRING_BYTES: Final = MAX_ATTRIBUTE_VALUE_BYTES
MAX_BYTES: Final = MAX_OPENLINEAGE_BYTES
_FIXED_WIDTH: Final = {"null": 0, "boolean": 1, "float": 4, "double": 8}
_MAX_VARINT_BYTES: Final = 10


def _malformed(detail: str) -> InvalidEvent:
    return InvalidEvent("malformed_avro", detail)


class _Walk:
    """A cursor over one body, and the named types of the schema it is walked under."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0
        self.named: dict[str, Any] = {}

    def long(self) -> int:
        value, shift = 0, 0
        for _ in range(_MAX_VARINT_BYTES):
            if self.pos >= len(self.body):
                raise _malformed("the body ends inside a number")
            byte = self.body[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return (value >> 1) ^ -(value & 1)
            shift += 7
        raise _malformed(f"a number at byte {self.pos} is longer than a long")

    def skip(self, size: int, what: str) -> None:
        if size < 0 or self.pos + size > len(self.body):
            raise _malformed(f"{what} of {size} bytes at byte {self.pos} runs past the end of the body")
        self.pos += size

    def sized(self, limit: int, what: str) -> None:
        size = self.long()
        if size > limit:
            raise InvalidEvent("oversized", f"{what} of {size} bytes, more than {limit}")
        self.skip(size, what)

    def items(self, limit: int, what: str, item: Any, spans: list[tuple[int, int]] | None = None) -> None:
        """An array's blocks, counting items against ``limit`` before walking them.

        ``spans``, when given, receives where each item starts and ends.
        """
        total = 0
        while True:
            count = self.long()
            if count == 0:
                return
            if count < 0:
                count = -count
                self.long()  # the block's size in bytes, which the walk does not need
            total += count
            if total > limit:
                raise InvalidEvent("oversized", f"{what} holds more than {limit} items")
            for _ in range(count):
                start = self.pos
                self.value(item, what)
                if spans is not None:
                    spans.append((start, self.pos))

    def value(self, schema: Any, what: str) -> None:
        if isinstance(schema, list):
            branch = self.long()
            if not 0 <= branch < len(schema):
                raise _malformed(f"{what}: union branch {branch} of {len(schema)}")
            self.value(schema[branch], what)
            return
        if isinstance(schema, str):
            if schema in self.named:
                self.value(self.named[schema], what)
            else:
                self.primitive(schema, what)
            return
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            self.named.setdefault(schema["name"], schema)
        if kind == "record":
            for field in schema["fields"]:
                self.value(field["type"], field["name"])
        elif kind == "enum":
            symbol = self.long()
            if not 0 <= symbol < len(schema["symbols"]):
                raise _malformed(f"{what}: enum symbol {symbol} of {len(schema['symbols'])}")
        elif kind == "fixed":
            self.skip(schema["size"], what)
        elif kind == "array":
            self.items(ITEM_LIMITS.get(what, _DEFAULT_ITEMS), what, schema["items"])
        elif schema.get("logicalType") == "timestamp-micros":
            # A generic decoder turns it into a datetime, which overflows outside years 1..9999.
            micros = self.long()
            if not time_in_range(micros):
                raise InvalidEvent("bad_event_time", f"{what} {micros} us is outside years 1 to 9999 in UTC")
        else:  # maps never pass the schema registry (canonical bytes must not depend on their order)
            self.primitive(kind, what)

    def primitive(self, kind: str, what: str) -> None:
        if kind in ("int", "long"):
            self.long()
        elif kind == "string":
            self.sized(MAX_STRING_BYTES, f"{what} string")
        elif kind == "bytes":
            self.sized(MAX_BYTES, f"{what} bytes")
        elif kind in _FIXED_WIDTH:
            self.skip(_FIXED_WIDTH[kind], what)
        else:
            raise _malformed(f"{what}: the schema names a type {kind!r} the walk does not know")


def event_spans(body: bytes, batch_schema: Mapping[str, Any]) -> list[tuple[int, int]]:
    """Where each event of an ``EventBatch`` body starts and ends, or InvalidEvent saying why not.

    ``batch_schema`` is the writer's ``EventBatch`` (a record whose one field ``events`` is an
    array of ``Event`` records). Reasons: ``oversized`` (too many items or too long a value),
    ``malformed_avro`` (truncated, an impossible union branch or enum symbol, bytes left over),
    ``bad_event_time`` (a ``timestamp-micros`` no ``datetime`` can hold), ``empty_batch``.
    """
    walk = _Walk(body)
    (field,) = batch_schema["fields"]
    spans: list[tuple[int, int]] = []
    walk.items(MAX_BATCH_EVENTS, "events", field["type"]["items"], spans)
    if walk.pos != len(body):
        raise _malformed(f"{len(body) - walk.pos} bytes left over after the batch")
    if not spans:
        raise InvalidEvent("empty_batch", "the batch holds no event")
    return spans
