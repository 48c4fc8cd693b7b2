"""A connection handed back to a provledger pool: its transaction rolled back, no reset query run."""

from __future__ import annotations

from provledger.store.db import create_pool


async def test_a_transaction_left_open_is_rolled_back_when_the_connection_returns(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TABLE left_open (x int)")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('left_open')") is None
    finally:
        await pool.close()


async def test_no_reset_query_runs_at_release(database_url: str) -> None:
    """The round trip keep_session saves: session state stays, which is why provledger sets none."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET application_name = 'still-here'")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") == "still-here"
    finally:
        await pool.close()
