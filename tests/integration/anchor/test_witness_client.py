"""The anchorer as a witness client, against two real ``provledger witness`` processes and real Postgres.

Blocks are sealed by driving the store as the sealer does; the witnesses are separate processes
with their own keys and state files (``tests/helpers/anchor_witnesses.py``). Hostile witnesses,
which no real witness can be made to be, are small aiohttp servers.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.helpers.anchor_witnesses import (
    SEALER,
    TestWitness,
    answers,
    clients,
    seal_ledger,
    witness_parties,
    witnessing_anchorer,
)
from tests.helpers.sealed_ledger import LOG_ORIGIN, connected

from provledger.anchor.rfc3161 import make_kind
from provledger.anchor.tlog_witness import WitnessClient, parse_witnesses
from provledger.config import KafkaSettings
from provledger.errors import ServiceUnavailable, VerificationError
from provledger.ledger.checkpoint import Checkpoint, shard_origin, sign_checkpoint
from provledger.ledger.cosignature import cosignature, cosignature_timestamp, cosigner
from provledger.ledger.note import open_note, parse_note
from provledger.local.tsa import LocalTsa
from provledger.witness.protocol import checkpoint_path, format_add_checkpoint

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def ledger(database_url: str) -> str:
    """Two shards: shard 0 at size 5 (blocks of 2 and 3 events), shard 1 at size 1."""
    await seal_ledger(database_url, {0: [2, 3], 1: [1]})
    return database_url


async def seal_more(database_url: str, partition: int, sizes: list[int]) -> None:
    await seal_ledger(database_url, {partition: sizes})


@pytest.fixture
def parties(tmp_path: Path) -> list[TestWitness]:
    """Two witnesses, as two participants of a federation would run them (not started)."""
    return witness_parties(tmp_path, 2)


async def stored(database_url: str) -> list[tuple[int, int, str, str, datetime]]:
    """Every stored cosignature: (shard, tree_size, witness key, line, cosigned_at), in order."""
    async with connected(database_url) as conn:
        rows = await conn.fetch(
            "SELECT shard, tree_size, witness_key, cosignature, cosigned_at FROM checkpoint_cosignatures "
            "ORDER BY shard, tree_size, witness_key"
        )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def cosigned(database_url: str, witness: TestWitness) -> dict[int, int]:
    """The largest size ``witness`` cosigned of each shard, from the stored rows."""
    key = witness.verifier.verifier_key_string()
    found: dict[int, int] = {}
    for shard, size, witness_key, _, _ in await stored(database_url):
        if witness_key == key:
            found[shard] = max(found.get(shard, 0), size)
    return found


async def assert_rows_verify(database_url: str, witnesses: list[TestWitness]) -> None:
    """Each stored line, appended to its stored checkpoint, is a note the witness's key verifies."""
    keys = {w.verifier.verifier_key_string(): w for w in witnesses}
    async with connected(database_url) as conn:
        for shard, size, key, line, at in await stored(database_url):
            note = await conn.fetchval(
                "SELECT note FROM shard_checkpoints WHERE shard = $1 AND tree_size = $2", shard, size
            )
            opened = open_note(note + line, [keys[key].verifier])
            assert opened.verified[0].line() == line
            assert Checkpoint.parse(opened.text) == Checkpoint.parse(parse_note(note).text)
            assert at == datetime.fromtimestamp(cosignature_timestamp(opened.verified[0].signature), UTC)


async def test_cosignatures_are_stored_verified_and_advance_with_proofs(
    ledger: str, kafka_settings: KafkaSettings, parties: list[TestWitness]
) -> None:
    with parties[0].start() as first, parties[1].start() as second:
        async with witnessing_anchorer(ledger, kafka_settings, clients(parties)) as a:
            await a.tick()
            assert [await cosigned(ledger, w) for w in parties] == [{0: 5, 1: 1}] * 2
            await seal_more(ledger, 0, [3, 4])
            await a.tick()  # shard 0 moved: a proof from 5 to 12; shard 1 is not sent again
            await a.tick()  # nothing moved: nothing sent
            assert a.fork is None
            for w in parties:
                assert a.metrics.witness_cosignatures.labels(w.key.name)._value.get() == 3
                assert a.metrics.witness_failures.labels(w.key.name)._value.get() == 0
                age = a.metrics.registry.get_sample_value(
                    "provledger_anchor_witness_last_success_age_seconds", {"witness": w.key.name}
                )
                assert age is not None
                assert age < 60
        assert [await cosigned(ledger, w) for w in parties] == [{0: 12, 1: 1}] * 2
        assert len(await stored(ledger)) == 6
        await assert_rows_verify(ledger, parties)
        assert answers(first) == answers(second) == {"200": 3}
        # The witness's own view agrees: its latest cosigned checkpoint of shard 0 is size 12.
        origin = shard_origin(LOG_ORIGIN, 0)
        async with httpx.AsyncClient(timeout=5) as http:
            latest = (await http.get(first.url + checkpoint_path(origin))).text
        assert Checkpoint.parse(open_note(latest, [parties[0].verifier]).text).size == 12


async def test_a_witness_down_holds_back_neither_the_other_nor_the_rfc3161_kind(
    ledger: str, kafka_settings: KafkaSettings, parties: list[TestWitness], local_tsa_server: LocalTsa
) -> None:
    tsa = make_kind(tsa_urls=local_tsa_server.url, tsa_roots_file=local_tsa_server.roots_file)
    up, down = parties
    with up.start():
        async with witnessing_anchorer(ledger, kafka_settings, clients(parties), [tsa], interval_s=0.5) as a:
            started = time.monotonic()
            await a.tick()
            assert time.monotonic() - started < 5, "a witness that is down stalled the tick"
            assert await cosigned(ledger, up) == {0: 5, 1: 1}
            assert await cosigned(ledger, down) == {}
            async with connected(ledger) as conn:
                assert await conn.fetchval("SELECT count(*) FROM anchor_receipts WHERE kind = 'rfc3161'") == 1
            assert a.metrics.witness_failures.labels(down.key.name)._value.get() == 1
            await seal_more(ledger, 1, [2])
            await a.tick()  # the down witness is backing off: not even asked
            assert a.metrics.witness_failures.labels(down.key.name)._value.get() == 1
            assert await cosigned(ledger, up) == {0: 5, 1: 3}
            # It comes back; after its backoff it catches up from nothing, at the newest heads.
            with down.start():
                await asyncio.sleep(0.6)
                await a.tick()
            assert await cosigned(ledger, down) == {0: 5, 1: 3}
            assert a.fork is None
    await assert_rows_verify(ledger, parties)


async def test_a_409_from_a_witness_ahead_or_behind_is_proved_again(
    ledger: str, kafka_settings: KafkaSettings, parties: list[TestWitness]
) -> None:
    witness = parties[0]
    async with connected(ledger) as conn:
        note = await conn.fetchval("SELECT note FROM shard_checkpoints WHERE shard = 0 AND tree_size = 5")
    with witness.start() as process:
        # Ahead of the table: it cosigned shard 0 at 5 for someone else (another run, a lost row).
        assert process.add(format_add_checkpoint(0, [], note)).status_code == 200
        async with witnessing_anchorer(ledger, kafka_settings, clients([witness])) as a:
            await a.tick()
        assert await cosigned(ledger, witness) == {0: 5, 1: 1}
        assert answers(process) == {"200": 3, "409": 1}
    # Behind the table: the witness lost its state (a new state file), the table says 5.
    await seal_more(ledger, 0, [3])
    with witness.start(state="fresh") as process:
        async with witnessing_anchorer(ledger, kafka_settings, clients([witness])) as a:
            await a.tick()
            assert a.fork is None
        assert answers(process) == {"409": 1, "200": 1}  # shard 1 was cosigned already: not sent
    assert await cosigned(ledger, witness) == {0: 8, 1: 1}
    await assert_rows_verify(ledger, [witness])


async def test_a_restart_resumes_without_resubmitting_what_is_stored(
    ledger: str, kafka_settings: KafkaSettings, parties: list[TestWitness]
) -> None:
    with parties[0].start() as first, parties[1].start() as second:
        async with witnessing_anchorer(ledger, kafka_settings, clients(parties)) as a:
            await a.tick()
        rows = await stored(ledger)
        async with witnessing_anchorer(ledger, kafka_settings, clients(parties)) as a:
            await a.tick()
            await a.tick()
        assert await stored(ledger) == rows
        assert answers(first) == answers(second) == {"200": 2}


@pytest.fixture
async def hostile_witness() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start servers answering ``POST /add-checkpoint`` with a given handler; yields their URL."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/add-checkpoint", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


def hostile_handlers(impostor: TestWitness) -> dict[str, Handler]:
    """Ways a witness holding ``impostor``'s key can answer without giving a usable cosignature."""

    async def other_text(request: web.Request) -> web.Response:
        # A real cosignature by the right key, but over another checkpoint than the one sent.
        await request.read()
        line = cosignature(
            Checkpoint("elsewhere/log", 1, bytes(32)).to_text(), impostor.key, int(time.time())
        )
        return web.Response(text=line.line())

    async def garbage_signature(request: web.Request) -> web.Response:
        await request.read()
        kid = cosigner(impostor.key).key_id
        fake = base64.b64encode(kid + (1_700_000_000).to_bytes(8, "big") + bytes(64)).decode()
        return web.Response(text=f"\u2014 {impostor.key.name} {fake}\n")

    async def smuggled_text(request: web.Request) -> web.Response:
        # Lines, an empty line, more text, and a cosignature over all of it: not the checkpoint.
        text = (await request.read()).decode().split("\n\n", 1)[1]
        note_text = parse_note(text).text
        smuggled = note_text + "\n\u2014 x y\n\nmore\n"
        line = cosignature(smuggled, impostor.key, int(time.time()))
        return web.Response(text="\u2014 x y\n\nmore\n\n" + line.line())

    async def huge(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"\xe2\x80\x94 " + b"A" * 16384)
        return response

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="")

    async def wrong_409(request: web.Request) -> web.Response:
        return web.Response(status=409, text="<html>conflict</html>", content_type="text/html")

    return {
        "other_text": other_text,
        "garbage_signature": garbage_signature,
        "smuggled_text": smuggled_text,
        "huge": huge,
        "hang": hang,
        "wrong_409": wrong_409,
    }


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("other_text", "cosignature that does not verify"),
        ("garbage_signature", "cosignature that does not verify"),
        ("smuggled_text", "not only signature lines"),
        ("huge", "more than 16384 bytes"),
        ("hang", "did not answer within 1.0 s"),
        ("wrong_409", "answered 409 as text/html"),
    ],
)
async def test_a_hostile_witness_yields_no_row_and_no_stall(
    behaviour: str,
    error: str,
    ledger: str,
    kafka_settings: KafkaSettings,
    parties: list[TestWitness],
    hostile_witness: Callable[[Handler], Awaitable[str]],
) -> None:
    honest, impostor = parties
    url = await hostile_witness(hostile_handlers(impostor)[behaviour])
    entries = f"{honest.entry()},{impostor.verifier.verifier_key_string()} {url}"
    witnesses = [WitnessClient(endpoint, timeout_s=1.0) for endpoint in parse_witnesses(entries)]
    with honest.start():
        async with witnessing_anchorer(ledger, kafka_settings, witnesses) as a:
            started = time.monotonic()
            await a.tick()
            assert time.monotonic() - started < 4, f"a {behaviour} witness stalled the tick"
            assert a.fork is None
            assert a.metrics.witness_failures.labels(impostor.key.name)._value.get() == 1
    assert await cosigned(ledger, impostor) == {}
    assert await cosigned(ledger, honest) == {0: 5, 1: 1}
    # What the submitter counted as a failure is the client's verdict on that answer.
    async with connected(ledger) as conn:
        note = await conn.fetchval("SELECT note FROM shard_checkpoints WHERE shard = 1")
    async with httpx.AsyncClient() as http:
        with pytest.raises((VerificationError, ServiceUnavailable), match=re.escape(error)):
            await witnesses[1].add_checkpoint(http, 0, [], note)


async def _fork_witness(witness: TestWitness, size: int) -> None:
    """Have ``witness`` cosign shard 0 at ``size`` in a history that is not the ledger's."""
    other = sign_checkpoint(Checkpoint(shard_origin(LOG_ORIGIN, 0), size, b"\x07" * 32), [SEALER])
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            witness.url + "/add-checkpoint", content=format_add_checkpoint(0, [], other)
        )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("their_size", "reason"),
    [
        (4, "refused its checkpoint at size 5 as inconsistent"),  # a proof from 4 fails: 422
        (5, "refused its checkpoint at size 5 as inconsistent"),  # same size, another root
        (9, "cosigned size 9, but the log here ends at size 5"),  # a history longer than ours
    ],
)
async def test_a_witness_refusing_for_inconsistency_raises_the_fork_alarm(
    their_size: int, reason: str, ledger: str, kafka_settings: KafkaSettings, parties: list[TestWitness]
) -> None:
    forked, honest = parties
    with forked.start(), honest.start():
        await _fork_witness(forked, their_size)
        async with witnessing_anchorer(ledger, kafka_settings, clients(parties)) as a:
            await a.tick()
            assert a.fork is not None
            assert a.fork.shard == 0
            assert reason in str(a.fork)
            assert a.metrics.fork_detected._value.get() == 1
            assert not a.ready
            # Failed closed: nothing more is anchored or submitted.
            await seal_more(ledger, 1, [1])
            await a.tick()
            async with connected(ledger) as conn:
                assert await conn.fetchval("SELECT max(seq) FROM checkpoints") == 1
    assert 0 not in await cosigned(ledger, forked)
    assert await cosigned(ledger, honest) == {0: 5, 1: 1}


async def test_a_witness_that_rate_limits_is_asked_once_per_shard_per_interval(
    ledger: str, kafka_settings: KafkaSettings, parties: list[TestWitness]
) -> None:
    witness = parties[0]
    paced = [WitnessClient(c.endpoint, c.timeout_s, min_interval_s=3600) for c in clients([witness])]
    with witness.start() as process:
        async with witnessing_anchorer(ledger, kafka_settings, paced) as a:
            await a.tick()
            await seal_more(ledger, 0, [1])
            await seal_more(ledger, 1, [1])
            await a.tick()  # both shards moved, but each was sent within the hour
        assert answers(process) == {"200": 2}
    assert await cosigned(ledger, witness) == {0: 5, 1: 1}


async def test_a_witness_refusing_one_shard_still_cosigns_the_others_without_backing_off(
    ledger: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    witness = witness_parties(tmp_path, 1, shards=1)[0]  # its logs file lists shard 0 alone
    with witness.start() as process:
        async with witnessing_anchorer(ledger, kafka_settings, clients([witness])) as a:
            await a.tick()
            assert a.fork is None
            assert a.metrics.witness_failures.labels(witness.key.name)._value.get() == 1
            assert a.witnesses.submitters[0].next_try == 0.0  # a refusal is not an outage
        assert answers(process) == {"200": 1, "404": 1}
    assert await cosigned(ledger, witness) == {0: 5}


async def test_a_witness_slow_on_every_shard_holds_the_tick_for_one_timeout_not_one_per_shard(
    ledger: str,
    kafka_settings: KafkaSettings,
    parties: list[TestWitness],
    hostile_witness: Callable[[Handler], Awaitable[str]],
) -> None:
    await seal_ledger(ledger, {shard: [1] for shard in range(2, 8)})  # eight shards in all
    asked: list[str] = []

    async def slow_refusal(request: web.Request) -> web.Response:
        asked.append((await request.read()).decode().split("\n\n")[1].split("\n")[0])  # the origin
        await asyncio.sleep(0.3)
        return web.Response(status=404, text="unknown log")

    slow = parties[0]
    url = await hostile_witness(slow_refusal)
    witnesses = [
        WitnessClient(e, timeout_s=0.5)
        for e in parse_witnesses(f"{slow.verifier.verifier_key_string()} {url}")
    ]
    async with witnessing_anchorer(ledger, kafka_settings, witnesses) as a:
        started = time.monotonic()
        await a.tick()
        assert time.monotonic() - started < 2.0, "one slow witness held the tick once per shard"
        assert len(asked) == 2  # 0.3 s each: the budget of one timeout (0.5 s) was spent after two
        assert a.witnesses.submitters[0].next_try == 0.0, "cut off by the budget, not refusing all"
        await a.tick()  # the shards left are asked first next tick
    assert len(asked) == len(set(asked)) == 4


async def test_a_witness_refusing_every_shard_backs_off(
    ledger: str,
    kafka_settings: KafkaSettings,
    parties: list[TestWitness],
    hostile_witness: Callable[[Handler], Awaitable[str]],
) -> None:
    asked: list[int] = []

    async def forbidden(request: web.Request) -> web.Response:
        await request.read()
        asked.append(1)
        return web.Response(status=403, text="checkpoint not signed by a trusted key")

    url = await hostile_witness(forbidden)
    witnesses = [
        WitnessClient(e, 1.0) for e in parse_witnesses(f"{parties[0].verifier.verifier_key_string()} {url}")
    ]
    async with witnessing_anchorer(ledger, kafka_settings, witnesses, interval_s=60) as a:
        await a.tick()
        await seal_more(ledger, 0, [1])
        await a.tick()  # backing off: not asked
        assert a.metrics.witness_failures.labels(parties[0].key.name)._value.get() == 2
        assert a.witnesses.submitters[0].next_try > time.monotonic() + 30
    assert len(asked) == 2
