"""The service's pools hand a connection back without asyncpg's reset query
(`heatlink.pool.keep_session`): what a user of a pooled connection left undone must still
not reach the next user."""

from __future__ import annotations

import asyncpg

from heatlink.pool import keep_session


async def test_a_transaction_left_open_is_rolled_back_before_the_next_user(
        fresh_database_url: str) -> None:
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=1,
                                     reset=keep_session)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS pool_probe (x int)")
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
            # Handed back mid-transaction, as by a bug or a cancelled request.
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
    finally:
        await pool.close()

