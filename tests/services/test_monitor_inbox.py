"""The partitioned monitor's inbox is read by transaction id: a batch whose transaction
took its row early and committed late is read once, after it commits, never skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import numpy as np

from heatlink.sqlfile import load_queries
from services.ingest import store as ingest_store
from services.ingest.copy_binary import readings_copy
from services.monitor.inbox import PG_EPOCH_S, HeldSeries
from services.monitor.lease import query
from services.storage.migrate import apply_migrations


async def read(reader: asyncpg.Connection, done: int) -> tuple[int, list[asyncpg.Record]]:
    """One poll as the monitor makes it: the horizon first, then the rows below it."""
    horizon = await reader.fetchval(query("inbox_horizon"))
    return horizon, await reader.fetch(query("inbox_rows"), str(done), str(horizon))


async def read_past(reader: asyncpg.Connection, done: int, xid: int,
                    timeout_s: float = 60.0) -> tuple[int, list[asyncpg.Record]]:
    """The first poll whose horizon has passed ``xid``. The horizon is the whole server's:
    a transaction another test left open on it (a frozen process's) holds it back for a
    while, as it would hold back the monitor."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (answer := await read(reader, done))[0] <= xid:
        if asyncio.get_running_loop().time() > deadline:
            open_ = await reader.fetch(
                "SELECT pid, datname, state, backend_xid::text, xact_start, query "
                "FROM pg_stat_activity WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL")
            raise AssertionError(f"horizon still at {answer[0]} after {timeout_s} s; open "
                                 f"transactions: {[dict(r) for r in open_]}")
        await asyncio.sleep(0.1)  # the horizon moves with no event to await
    return answer


def batch(series_id: int, ts_us: int) -> bytes:
    return readings_copy([series_id], [ts_us], [1.5], [0])


async def test_a_batch_committed_after_a_later_one_is_read_once(
        fresh_database_url: str) -> None:
    await apply_migrations(fresh_database_url)
    append = load_queries(Path(ingest_store.__file__).with_name("inbox.sql"))["append"]
    early, late, reader = [await asyncpg.connect(fresh_database_url) for _ in range(3)]
    try:
        slow = early.transaction()
        await slow.start()
        early_xid = int(await early.fetchval("SELECT pg_current_xact_id()::text"))  # as
        # ingest's claim does first
        await early.execute(append, batch(1, 10_000_000))  # takes the first row id, stays open
        async with late.transaction():
            await late.execute(append, batch(2, 20_000_000))
        ids = await reader.fetch("SELECT id FROM monitor_inbox")
        assert len(ids) == 1  # only the committed one is visible ...
        done, rows = await read(reader, 0)
        assert rows == []  # ... and it is not taken while an older transaction is open
        await slow.commit()
        horizon, rows = await read_past(reader, done, early_xid)
        assert [r["xid"] for r in rows] == sorted(r["xid"] for r in rows)
        held = HeldSeries(np.array([-1, 0, 1]), np.array([0, 0]))
        idx, t_s, _, _ = held.arrays(rows, {0: done})
        assert idx.tolist() == [0, 1]  # the early one first: its transaction began first
        assert (t_s - PG_EPOCH_S).tolist() == [10.0, 20.0]
        _, again = await read(reader, horizon)
        assert again == []  # each row once
    finally:
        for conn in (early, late, reader):
            await conn.close()
