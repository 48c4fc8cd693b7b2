"""Fuzzing the record path into a real Postgres: sealed and read back identical, or refused with a reason.

Hypothesis makes hostile records two ways: valid events with one field swapped for a hostile
value behind the model's back (NUL, lone surrogates as invalid UTF-8, texts around their byte
limits, times around years 1 and 9999), and valid records with bytes flipped, cut or inserted;
plus hostile OpenLineage RunEvents. Each goes through the sealer's screening (fast reader, then
the general path), and what it accepts is sealed into a block written with ``write_block``, the
sealer's own writer. The property: every record is either refused with a reason of the edge (not
``decoder_error``, which would mean an exception nobody anticipated), or written without error
and read back from Postgres byte for byte. Example counts are bounded to keep CI short.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provledger.events.binary import array_of, event_body, zigzag_varint
from provledger.events.codec import batch_header
from provledger.events.limits import MAX_TEXT_BYTES, MAX_TIME_US, MIN_TIME_US
from provledger.events.model import ArtifactRef, Event, EventType, Job, Run, time_from_micros
from provledger.events.openlineage import RUN_EVENT_SCHEMA_URL
from provledger.ledger.keys import SigningKey
from provledger.sealer.intake import SourceRecord, screen
from provledger.sealer.shardlog import ShardLog
from provledger.store.blocks import ensure_shard, load_head, write_block

KEY = SigningKey.generate("fuzz.test/ledger")
EVENTS_TOPIC, OPENLINEAGE_TOPIC = "fuzz.events", "fuzz.openlineage"
MARKER = "\u2603fuzz\u2603"
DIGEST = "sha256:" + "ab" * 32
_PARTITIONS = itertools.count()  # examples of one test share its database, never a shard
_RUN_IDS = itertools.count(1)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

hostile_texts = st.one_of(
    st.text(min_size=0, max_size=12),
    st.text(max_size=6).map(lambda text: text + "\x00"),
    st.sampled_from(["\ud800", "x\udfff", "\x00", "a\u2028b", "\ufeff"]),
    st.builds(lambda char, n: char * n, st.sampled_from("aé\U0001f600"), st.integers(250, 1030)),
)
times = st.one_of(
    st.integers(MIN_TIME_US - 2, MIN_TIME_US + 2),
    st.integers(MAX_TIME_US - 2, MAX_TIME_US + 2),
    st.integers(-(1 << 63), (1 << 63) - 1),
)
PLACES = ("job namespace", "job name", "artifact namespace", "artifact name", "version", "key", "value")


def _event(place: str, run_id: str, micros: int | None = None) -> Event:
    text = MARKER
    event = Event.new(
        EventType.COMPLETE,
        job=Job(text if place == "job namespace" else "fuzz", text if place == "job name" else "job"),
        run=Run(run_id),
        producer="https://provledger.test/fuzz",
        outputs=[
            ArtifactRef(
                text if place == "artifact namespace" else "models",
                text if place == "artifact name" else "m",
                DIGEST,
                "model",
                text if place == "version" else None,
            )
        ],
        attributes={text if place == "key" else "k": text if place == "value" else "v"},
    )
    return event


def _hostile_record(event: Event, text: str) -> bytes:
    marker = MARKER.encode()
    hostile = text.encode("utf-8", "surrogatepass")
    body = event_body(event).replace(
        zigzag_varint(len(marker)) + marker, zigzag_varint(len(hostile)) + hostile
    )
    return batch_header() + array_of([body])


def _at_time(event: Event, micros: int) -> bytes:
    body = event_body(event).replace(zigzag_varint(event.event_time_us), zigzag_varint(micros), 1)
    return batch_header() + array_of([body])


@st.composite
def mutated(draw: st.DrawFn, value: bytes) -> bytes:
    data = bytearray(value)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        where = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[where] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[where : where + draw(st.integers(1, 8))]
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        if not data:
            break
    return bytes(data)


class Ledger:
    """One shard per example, sealed with the sealer's own ShardLog and written with ``write_block``."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def seal(self, topic: str, value: bytes) -> None:
        asyncio.run(self._seal(topic, next(_PARTITIONS), value))

    async def _seal(self, topic: str, partition: int, value: bytes) -> None:
        record = SourceRecord(topic, partition, 0, None, None, value)
        screened = screen(record, openlineage_topic=OPENLINEAGE_TOPIC, max_bytes=1 << 20)
        if screened.rejected is not None:
            assert screened.rejected.reason != "decoder_error", screened.rejected.detail
            assert screened.rejected.reason
            assert screened.rejected.detail
            return
        assert screened.events, "a record neither accepted nor refused"
        conn = await asyncpg.connect(self.database_url)
        try:
            shard = await ensure_shard(conn, topic, partition)
            log = ShardLog(await load_head(conn, shard), "fuzz.test/ledger")
            block = log.seal(screened.events, 0, 0, KEY, time.time_ns() // 1000)
            await write_block(conn, block, 0)
            rows = await conn.fetch(
                "SELECT event_id, canonical, leaf_hash, event_time, job_namespace, job_name FROM events "
                "WHERE shard = $1 ORDER BY leaf_index",
                shard,
            )
        finally:
            await conn.close()
        assert [(str(r["event_id"]), bytes(r["canonical"]), bytes(r["leaf_hash"])) for r in rows] == [
            (c.event_id, c.canonical, c.leaf_hash) for c in screened.events
        ]
        for row, candidate in zip(rows, screened.events, strict=True):
            assert row["event_time"] == time_from_micros(candidate.event_time)
            assert (row["job_namespace"], row["job_name"]) == (candidate.job_namespace, candidate.job_name)


@given(place=st.sampled_from(PLACES), text=hostile_texts, run_id=st.uuids().map(str))
@FUZZ
def test_hostile_values_are_sealed_intact_or_refused_with_a_reason(
    database_url: str, place: str, text: str, run_id: str
) -> None:
    Ledger(database_url).seal(EVENTS_TOPIC, _hostile_record(_event(place, run_id), text))


@given(micros=times, run_id=st.uuids().map(str))
@FUZZ
def test_hostile_times_are_sealed_intact_or_refused_with_a_reason(
    database_url: str, micros: int, run_id: str
) -> None:
    Ledger(database_url).seal(EVENTS_TOPIC, _at_time(_event("job name", run_id), micros))


@given(data=st.data())
@FUZZ
def test_damaged_records_are_sealed_intact_or_refused_with_a_reason(
    database_url: str, data: st.DataObject
) -> None:
    valid = batch_header() + array_of([event_body(_event("version", str(data.draw(st.uuids()))))])
    Ledger(database_url).seal(
        EVENTS_TOPIC, data.draw(mutated(valid.replace(MARKER.encode(), b"v1.0.0-rc.1")))
    )


def _run_event(namespace: Any, name: Any, event_time: Any, facets: Any) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": event_time,
        "producer": "https://provledger.test/fuzz",
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        # A run id of its own per example: hypothesis may build one RunEvent twice (event ids are
        # derived from the content), and the same event sealed on two shards is a duplicate key.
        "run": {"runId": f"01938a6e-7c00-7000-8000-{next(_RUN_IDS):012x}", "facets": facets},
        "job": {"namespace": namespace, "name": name},
        "inputs": [{"namespace": "s3://lake", "name": name}],
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_texts, children, max_size=4),
    max_leaves=12,
)
event_times = st.one_of(
    st.sampled_from(
        ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:01", "2024-01-01T00:00:00Z", "soon"]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
)


@given(namespace=hostile_texts | json_values, name=hostile_texts, event_time=event_times, facets=json_values)
@FUZZ
def test_hostile_run_events_are_sealed_intact_or_refused_with_a_reason(
    database_url: str, namespace: Any, name: str, event_time: str, facets: Any
) -> None:
    document = json.dumps(_run_event(namespace, name, event_time, facets))  # lone surrogates as \\u escapes
    Ledger(database_url).seal(OPENLINEAGE_TOPIC, document.encode())


def test_text_limits_are_what_postgres_can_index() -> None:
    """Two texts at their limit plus a digest stay under a B-tree row's 2704 bytes."""
    assert 2 * MAX_TEXT_BYTES + len(DIGEST) + 64 < 2704
