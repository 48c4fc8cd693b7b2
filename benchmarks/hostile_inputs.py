"""What a hostile client sends, and the process that sends it: the inputs of ``bench_hostile.py``.

Each class of :data:`HOSTILE` goes in through one door: the API (``http``), or straight into
Kafka as a native record (``events``) or an OpenLineage Kafka-transport record (``openlineage``),
built by hand behind every check the SDK and the OpenLineage mapping make. :func:`hostile_worker`
sends them from a process of its own at the classes' rates, and returns what it sent, the HTTP
answers and where each Kafka record landed, so dead letters can be matched to their class.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bench_seal import RUNS
from provledger.events import encode_record
from provledger.events.binary import array_of, event_body, zigzag_varint
from provledger.events.codec import MAGIC, batch_header
from provledger.events.limits import MAX_TIME_US
from provledger.events.model import Event, EventType, Job, Run
from provledger.events.openlineage import RUN_EVENT_SCHEMA_URL
from provledger.events.schemas import registry

NAMESPACE, GOOD_JOB, API_JOB = "bench", "train", "api-good"  # GOOD_JOB is bench_seal's events' job
PRODUCER = "https://provledger.bench/hostile"
#: Hostile HTTP requests in flight at once; beyond it the sender waits (and the achieved rate says so).
MAX_IN_FLIGHT = 64
#: The sender may run this much past its seconds when a server slows it down, then stops.
GRACE_S = 30.0
BAD_TIME = "9999-12-31T23:59:59-23:59"
BAD_CURSOR = "WzkwMDAwMDAwMDAwMDAwMDAwMDAsImEiXQ"  # [90000000000000000000,"a"]
MARKER = "\u2603marker\u2603"  # encoded in a template event, then swapped for the hostile bytes


@dataclass(frozen=True)
class Hostile:
    """One class of hostile input: its door (``http``, ``events`` or ``openlineage``) and rate."""

    name: str
    door: str
    rate: int
    expected: str


HOSTILE = (
    Hostile("HTTP eventTime past 9999", "http", 76, "400 bad_event_time"),
    Hostile("HTTP NUL in job namespace", "http", 76, "400 bad_text"),
    Hostile("HTTP lone surrogate facet key", "http", 76, "400"),
    Hostile("HTTP gzip + garbage", "http", 76, "400 bad-gzip"),
    Hostile("HTTP two gzip members", "http", 76, "400 bad-gzip"),
    Hostile("HTTP gzip bomb", "http", 4, "413"),
    Hostile("HTTP structure bomb (batch)", "http", 2, "4xx"),
    Hostile("HTTP out-of-range cursor", "http", 76, "400 invalid-cursor"),
    Hostile("events: NUL in job name", "events", 76, "bad_text"),
    Hostile("events: time past 9999", "events", 76, "bad_event_time"),
    Hostile("events: 1 MB empty attributes", "events", 2, "oversized"),
    Hostile("events: unknown fingerprint", "events", 76, "unknown_fingerprint"),
    Hostile("events: random garbage", "events", 76, "not_single_object"),
    Hostile("events: over record limit", "events", 2, "oversized"),
    Hostile("events: conflicting duplicate", "events", 76, "conflicting_duplicate"),
    Hostile("openlineage: time past 9999", "openlineage", 76, "bad_event_time"),
    Hostile("openlineage: not JSON", "openlineage", 76, "malformed_json"),
    Hostile("openlineage: structure bomb", "openlineage", 2, "oversized"),
)


def run_event(run_id: str, job_name: str = API_JOB, **changes: Any) -> dict[str, Any]:
    """A valid OpenLineage RunEvent happening now, with ``changes`` applied."""
    document: dict[str, Any] = {
        "eventType": "RUNNING",
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": {"runId": run_id},
        "job": {"namespace": NAMESPACE, "name": job_name},
        "inputs": [{"namespace": "s3://lake", "name": "imagenet"}],
        "outputs": [],
    }
    return document | changes


def api_session(url: str, token: str, connections: int) -> aiohttp.ClientSession:
    """An HTTP client of the API with the bench's token.

    aiohttp rather than httpx: on this machine httpx spends 1-5 ms of CPU per request (more the
    more connections it pools), aiohttp ~0.15 ms; at 460 requests/s that is most of a core.
    """
    return aiohttp.ClientSession(
        url,
        headers={"Authorization": f"Bearer {token}"},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def ask(
    session: aiohttp.ClientSession, method: str, path: str, body: bytes, headers: dict[str, str]
) -> str:
    """The answer as status, problem type and reasons, e.g. ``400 invalid-run-events (bad_text)``."""
    try:
        async with session.request(method, path, data=body or None, headers=headers) as response:
            status, text = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"no answer ({type(exc).__name__})"
    try:
        problem = json.loads(text)
    except ValueError:
        return str(status)
    if not isinstance(problem, dict) or status < 300:
        return str(status)
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    errors = problem.get("errors")
    reasons = sorted(
        {str(e.get("reason")) for e in errors if isinstance(e, dict)} if isinstance(errors, list) else ()
    )
    return f"{status} {slug}" + (f" ({', '.join(reasons)})" if reasons else "")


# The hostile inputs themselves. ---------------------------------------------------------------

HttpPoison = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers
#: (a good event's key, the send's number) -> (key, value) to produce, or None: nothing yet.
KafkaPoison = Callable[[bytes, int], tuple[bytes, bytes] | None]


def http_poisons(run_id: str, max_ingest_bytes: int) -> dict[str, HttpPoison]:
    """Each hostile request, built once: the API must refuse each the same way every time."""
    as_json = {"Content-Type": "application/json"}
    as_gzip = as_json | {"Content-Encoding": "gzip"}
    good = json.dumps(run_event(run_id)).encode()
    late = json.dumps(run_event(run_id, eventTime=BAD_TIME)).encode()
    nul = json.dumps(run_event(run_id, job={"namespace": "a\x00b", "name": "j"})).encode()
    surrogate = good.replace(b'"run": {', b'"run": {"facets": {"\\ud800": {}}, ', 1)
    items = (max_ingest_bytes - 16) // 3  # "{}," each: the inflated body stays under the cap
    structure = b"[" + b"{}," * items + b"{}]"
    lineage = "/api/v1/lineage"
    return {
        "HTTP eventTime past 9999": ("POST", lineage, late, as_json),
        "HTTP NUL in job namespace": ("POST", lineage, nul, as_json),
        "HTTP lone surrogate facet key": ("POST", lineage, surrogate, as_json),
        "HTTP gzip + garbage": ("POST", lineage, gzip.compress(good) + b"garbage", as_gzip),
        "HTTP two gzip members": ("POST", lineage, gzip.compress(good) + gzip.compress(b"{}"), as_gzip),
        "HTTP gzip bomb": ("POST", lineage, gzip.compress(bytes(2 * max_ingest_bytes), 9), as_gzip),
        "HTTP structure bomb (batch)": ("POST", f"{lineage}/batch", gzip.compress(structure, 9), as_gzip),
        "HTTP out-of-range cursor": ("GET", f"/v1/runs?cursor={BAD_CURSOR}", b"", {}),
    }  # fmt: skip


def _spliced(event: Event, old: bytes, new: bytes) -> bytes:
    """``event``'s record with the one occurrence of ``old`` in its body replaced: behind every check."""
    body = event_body(event)
    assert body.count(old) == 1, "the template must hold what is replaced exactly once"
    return batch_header() + array_of([body.replace(old, new)])


def _avro_text(text: bytes) -> bytes:
    return zigzag_varint(len(text)) + text


def _always(value: bytes) -> KafkaPoison:
    return lambda key, n: (key, value)


def _native_poisons(max_record_bytes: int, sealed: list[tuple[str, str]]) -> dict[str, KafkaPoison]:
    """Each hostile ``provledger.events`` record; ``sealed`` holds good events a duplicate can copy."""

    def template(job: str = "hostile", attributes: tuple[tuple[str, str], ...] = ()) -> Event:
        run = Run(str(uuid.uuid4()))
        return Event.new(EventType.RUNNING, job=Job(NAMESPACE, job), run=run, producer=PRODUCER,
                         attributes=attributes)  # fmt: skip

    marker = MARKER.encode()
    dated = template()
    attributes = 499_000  # two bytes each (empty key, empty value): just under 1 MB, under the record limit
    fingerprint = bytes.fromhex("00000000deadbeef")
    assert registry().by_fingerprint(fingerprint) is None
    rng = random.Random(15)

    def duplicate(key: bytes, n: int) -> tuple[bytes, bytes] | None:
        if not sealed:
            return None
        event_id, run_id = sealed[n % len(sealed)]
        other = Event(event_id, datetime.now(UTC), EventType.RUNNING, PRODUCER, Run(run_id),
                      Job(NAMESPACE, "conflicting-duplicate"))  # fmt: skip
        return run_id.encode(), encode_record([other])

    return {
        "events: NUL in job name": _always(
            _spliced(template(MARKER), _avro_text(marker), _avro_text(b"a\x00b"))
        ),
        "events: time past 9999": _always(
            _spliced(dated, zigzag_varint(dated.event_time_us), zigzag_varint(MAX_TIME_US + 1))
        ),
        "events: 1 MB empty attributes": _always(
            _spliced(
                template(attributes=((MARKER, ""),)),
                b"\x02" + _avro_text(marker) + b"\x00",
                zigzag_varint(attributes) + b"\x00\x00" * attributes,
            )
        ),
        "events: unknown fingerprint": _always(
            MAGIC + fingerprint + encode_record([template()])[len(MAGIC) + 8 :]
        ),
        "events: random garbage": lambda key, n: (key, b"\x00" + rng.randbytes(99)),
        "events: over record limit": _always(batch_header() + bytes(max_record_bytes + 1024)),
        "events: conflicting duplicate": duplicate,
    }


def _openlineage_poisons(max_record_bytes: int) -> dict[str, KafkaPoison]:
    """Each hostile ``provledger.openlineage`` value (the OpenLineage Kafka transport's JSON)."""
    run_id = str(uuid.uuid4())
    bomb = json.dumps(run_event(run_id, "structure-bomb", run={"runId": run_id, "facets": {"bomb": []}}))
    items = (max_record_bytes - len(bomb) - 1024) // 3
    return {
        "openlineage: time past 9999": _always(json.dumps(run_event(run_id, eventTime=BAD_TIME)).encode()),
        "openlineage: not JSON": _always(b"\xff{not json"),
        "openlineage: structure bomb": _always(
            bomb.replace('"bomb": []', '"bomb": [' + "{}," * items + "{}]").encode()
        ),
    }


# The hostile sender, a process of its own. -----------------------------------------------------


@dataclass(frozen=True)
class HostilePlan:
    """Where the hostile sender sends, for how long, and the limits its inputs are built around."""

    bootstrap: str
    events_topic: str
    openlineage_topic: str
    api_url: str
    token: str
    database_url: str
    keys: tuple[bytes, ...]
    seconds: float
    max_record_bytes: int
    max_ingest_bytes: int
    classes: tuple[Hostile, ...]


@dataclass
class HostileSent:
    """What the hostile sender sent, and what came back at once (HTTP answers, broker offsets)."""

    sent: Counter[str] = field(default_factory=Counter)
    unsent: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # class -> why
    answers: dict[str, Counter[str]] = field(default_factory=dict)
    records: dict[str, str] = field(default_factory=dict)  # "topic/partition/offset" -> class
    seconds: float = 0.0
    classes: tuple[str, ...] = ()  # the classes sent (all but those --exclude named)
    rate: int = 0  # their rates' sum


def _schedule(classes: tuple[Hostile, ...], seconds: float) -> Iterator[tuple[float, str, int]]:
    """Every hostile send of a phase in time order: a class's n-th send at (n + 0.5) / rate.

    Bounded in count (the classes' rates times ``seconds``) before the sender starts.
    """
    yield from sorted(((n + 0.5) / h.rate, h.name, n) for h in classes for n in range(int(h.rate * seconds)))


async def _sealed_good_events(database_url: str, sealed: list[tuple[str, str]]) -> None:
    """Keep ``sealed`` filled with (event id, run id) of sealed good events, for conflicting duplicates."""
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            rows = await conn.fetch(
                "SELECT event_id::text, run_id FROM events "
                "WHERE job_namespace = $1 AND job_name = $2 LIMIT $3",
                NAMESPACE, GOOD_JOB, RUNS,
            )  # fmt: skip
            sealed[:] = [(row[0], row[1]) for row in rows]
            await asyncio.sleep(1.0 if sealed else 0.1)
    finally:
        await conn.close()


async def _request(
    session: aiohttp.ClientSession, poison: HttpPoison, answers: Counter[str], in_flight: asyncio.Semaphore
) -> None:
    try:
        answers[await ask(session, *poison)] += 1
    finally:
        in_flight.release()


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def check_loopback(bootstrap: str, api_url: str) -> None:
    """Refuse to send unless the broker and the API are on this machine: hostile traffic stays local."""
    hosts = {address.strip().rpartition(":")[0] for address in bootstrap.split(",")}
    hosts.add(urlsplit(api_url).hostname or "")
    if not hosts <= LOOPBACK:
        raise ValueError(f"hostile inputs go only to 127.0.0.1; not to {sorted(hosts - LOOPBACK)}")


async def _send_hostile(plan: HostilePlan) -> HostileSent:
    check_loopback(plan.bootstrap, plan.api_url)
    result = HostileSent(
        answers={h.name: Counter() for h in plan.classes if h.door == "http"},
        classes=tuple(h.name for h in plan.classes),
        rate=sum(h.rate for h in plan.classes),
    )
    sealed: list[tuple[str, str]] = []
    http = http_poisons(plan.keys[0].decode(), plan.max_ingest_bytes)
    native = _native_poisons(plan.max_record_bytes, sealed)
    lineage = _openlineage_poisons(plan.max_record_bytes)
    kafka = {name: (plan.events_topic, poison) for name, poison in native.items()} | {
        name: (plan.openlineage_topic, poison) for name, poison in lineage.items()
    }
    producer = AIOKafkaProducer(
        bootstrap_servers=plan.bootstrap, acks="all", linger_ms=5, max_request_size=4 * plan.max_record_bytes
    )
    await producer.start()
    deliveries: list[tuple[str, asyncio.Future[Any]]] = []
    in_flight, requests = asyncio.Semaphore(MAX_IN_FLIGHT), set[asyncio.Task[None]]()
    poller = asyncio.create_task(_sealed_good_events(plan.database_url, sealed))
    try:
        async with api_session(plan.api_url, plan.token, MAX_IN_FLIGHT) as session:
            start = time.monotonic()
            for at, name, n in _schedule(plan.classes, plan.seconds):
                if (ahead := start + at - time.monotonic()) > 0.001:
                    await asyncio.sleep(ahead)
                if time.monotonic() > start + plan.seconds + GRACE_S:
                    break
                if name in http:
                    await in_flight.acquire()
                    task = asyncio.create_task(_request(session, http[name], result.answers[name], in_flight))
                    requests.add(task)
                    task.add_done_callback(requests.discard)
                elif (record := kafka[name][1](plan.keys[n % len(plan.keys)], n)) is not None:
                    deliveries.append((name, await producer.send(kafka[name][0], record[1], key=record[0])))
                else:
                    result.unsent[name]["not sent: no good event sealed yet"] += 1
                    continue
                result.sent[name] += 1
            result.seconds = time.monotonic() - start
            await asyncio.gather(*requests)
        for name, delivery in deliveries:
            try:
                meta = await delivery
            except KafkaError as exc:
                result.unsent[name][f"not produced ({type(exc).__name__})"] += 1
            else:
                result.records[f"{meta.topic}/{meta.partition}/{meta.offset}"] = name
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        await producer.stop()
    return result


def hostile_worker(plan: HostilePlan) -> HostileSent:
    """The hostile sender's process: its own core share and event loop, apart from the good emitter."""
    return asyncio.run(_send_hostile(plan))
