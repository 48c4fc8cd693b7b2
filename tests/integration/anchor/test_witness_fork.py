"""The issue's real fork, with witnesses: restore a dump, seal different events, and both witnesses refuse.

The fork of ``test_anchorer_service.py`` (seal and anchor, ``pg_dump``, seal and anchor more,
restore the dump, seal other events into the same shard), now with two real witness processes
cosigning every anchored shard head. The anchorer refuses the restored database by what it
published to the checkpoints topic; and if that topic is lost too, the witnesses are what is
left: both refuse the rewritten shard (409, proof again from their size, 422), and the anchorer
fails closed on their refusal.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from tests.helpers.anchor_witnesses import (
    TestWitness,
    answers,
    clients,
    seal_ledger,
    witness_parties,
    witnessing_anchorer,
)
from tests.integration.anchor.test_anchorer_service import _pg_tool, _run

from provledger.anchor.rfc3161 import make_kind
from provledger.config import KafkaSettings
from provledger.local.tsa import LocalTsa


async def cosigned_sizes(database_url: str) -> set[tuple[int, int]]:
    """The distinct (shard, tree_size) any witness cosigned, by the rows of ``database_url``."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT DISTINCT shard, tree_size FROM checkpoint_cosignatures")
    finally:
        await connection.close()
    return {(r["shard"], r["tree_size"]) for r in rows}


@pytest.fixture
async def restored_database(admin_database_url: str) -> AsyncIterator[str]:
    """An empty database to restore a dump into, dropped at the end."""
    name = f"restored_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_both_witnesses_refuse_a_database_restored_from_a_dump(
    database_url: str,
    restored_database: str,
    kafka_settings: KafkaSettings,
    local_tsa_server: LocalTsa,
    tmp_path: Path,
) -> None:
    tsa = make_kind(tsa_urls=local_tsa_server.url, tsa_roots_file=local_tsa_server.roots_file)
    parties: list[TestWitness] = witness_parties(tmp_path, 2)
    ledger = database_url
    await seal_ledger(ledger, {0: [2, 3], 1: [1]})
    with parties[0].start() as first, parties[1].start() as second:
        async with witnessing_anchorer(ledger, kafka_settings, clients(parties), [tsa]) as a:
            await a.tick()
        dump = tmp_path / "ledger.dump"
        await _run(_pg_tool("pg_dump"), "-Fc", "-f", str(dump), ledger)
        await seal_ledger(ledger, {0: [3]})
        async with witnessing_anchorer(ledger, kafka_settings, clients(parties), [tsa]) as a:
            await a.tick()
        assert await cosigned_sizes(ledger) == {(0, 5), (1, 1), (0, 8)}

        await _run(_pg_tool("pg_restore"), "--no-owner", "-d", restored_database, str(dump))
        await seal_ledger(restored_database, {0: [5]})  # different events into the same shard
        assert await cosigned_sizes(restored_database) == {(0, 5), (1, 1)}  # it forgot size 8

        # The checkpoints topic remembers statement 2: refused before any witness is asked.
        async with witnessing_anchorer(restored_database, kafka_settings, clients(parties), [tsa]) as a:
            await a.tick()
            assert a.fork is not None
            assert "statement 2 was published but the database's newest is 1" in str(a.fork)
        assert answers(first) == answers(second) == {"200": 3}

        # The topic lost as well: the restored database alone looks consistent (its statement 1
        # and the new block chain and prove), but each witness remembers size 8 of the other history.
        lost_topic = f"{kafka_settings.topic_checkpoints}.lost"
        async with witnessing_anchorer(
            restored_database, kafka_settings, clients(parties), [tsa], topic_name=lost_topic
        ) as a:
            await a.tick()
            assert a.fork is not None
            assert a.fork.shard == 0
            assert "refused its checkpoint at size 10 as inconsistent with size 8 it cosigned" in str(a.fork)
            assert a.metrics.fork_detected._value.get() == 1
            assert not a.ready
            for witness in parties:
                assert a.metrics.witness_failures.labels(witness.key.name)._value.get() == 1
            await seal_ledger(restored_database, {1: [1]})
            await a.tick()  # failed closed: nothing more signed or submitted
        # Both refused: each told the anchorer its size (409), then found the proof from it false (422).
        assert answers(first) == answers(second) == {"200": 3, "409": 1, "422": 1}
        assert await cosigned_sizes(restored_database) == {(0, 5), (1, 1)}
        connection = await asyncpg.connect(restored_database)
        try:
            assert await connection.fetchval("SELECT max(seq) FROM checkpoints") == 2
        finally:
            await connection.close()
