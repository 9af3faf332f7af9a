"""`heatlink bench accounting`: one month of 1 Hz readings on the four series of the example
exchange's billing meter (register, flow, temperature pair: about ten million rows), then the
hourly figures and the month's statement, cold (nothing kept) and warm, next to a bare
``time_bucket`` aggregate over the same rows in the same run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import typer

from bench.system import bench_database
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.testing import FakeClock
from services.accounting.months import Month
from services.accounting.runtime import EVERYTHING, AccountingRuntime
from services.ingest.store import sync_series
from services.readings import store as readings
from services.storage import timescale
from services.storage.migrate import apply_migrations

app = typer.Typer(add_completion=False)
MONTH = Month(2026, 2)
FILL_SQL = """
INSERT INTO readings (series_id, ts, value, quality)
SELECT (SELECT id FROM series WHERE key = $1), $2::timestamptz + s * interval '1 second',
       CASE $3 WHEN 'flow' THEN 350 + 5 * sin(s / 5000.0)
               WHEN 'supply' THEN 19 + 0.5 * sin(s / 7000.0)
               WHEN 'return' THEN 2.0
               ELSE 48213000 + s * 6.9 / 3600.0 END, 0
FROM generate_series(0, $4 - 1) AS s
"""


async def _timed(what: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await what()
    return time.perf_counter() - started


async def run(url: str) -> None:
    cluster = load_cluster(EXAMPLE_CLUSTER)
    index = ClusterIndex(cluster)
    exchange = cluster.exchanges[0]
    billing = exchange.metering_points[0]
    keys = [k for k in (billing.register_series, billing.flow, billing.temp_in,
                        billing.temp_out) if k is not None]
    await apply_migrations(url)
    features = await timescale.enable(url, chunk_interval_hours=24, retention_days=4000)
    print(f"storage: {features.describe()}")
    pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
    try:
        await sync_series(pool, index)
        tz = index.timezone
        start, end = MONTH.start(tz), MONTH.end(tz)
        seconds = int((end - start).total_seconds())
        filled = time.perf_counter()
        for key, kind in zip(keys, ("register", "flow", "supply", "return"), strict=True):
            await pool.execute(FILL_SQL, key, start, kind, seconds)
        await pool.execute("ANALYZE readings")
        rows = await pool.fetchval("SELECT count(*) FROM readings")
        print(f"readings: {rows:,} rows, 1 Hz, {MONTH} ({time.perf_counter() - filled:.1f} s "
              "to write)")
        clock = FakeClock(end + timedelta(days=1))  # the month has ended, not yet closed
        runtime = AccountingRuntime(pool, index, clock, features.timescaledb)
        svc = runtime.service

        async def bare() -> None:
            await readings.hourly_average(pool, keys, start, end, features.timescaledb)

        async def hourly() -> None:
            await svc.energy(exchange, start, end)

        async def statement() -> None:
            document = await svc.statement(exchange, MONTH)
            assert document is not None
            document.csv()
            document.pdf()

        bare_s = min([await _timed(bare) for _ in range(2)])
        await runtime.figures.forget_since(EVERYTHING)
        hourly_cold = await _timed(hourly)
        hourly_warm = min([await _timed(hourly) for _ in range(3)])
        await runtime.figures.forget_since(EVERYTHING)
        statement_cold = await _timed(statement)
        statement_warm = min([await _timed(statement) for _ in range(3)])
        print(f"bare time_bucket hourly avg of the 4 series: {bare_s:8.2f} s")
        print(f"hourly figures, cold:                       {hourly_cold:8.2f} s  "
              f"({hourly_cold / bare_s:.1f}x the bare aggregate)")
        print(f"hourly figures, warm:                       {hourly_warm:8.3f} s")
        print(f"statement JSON+CSV+PDF, cold:               {statement_cold:8.2f} s  "
              f"({statement_cold / bare_s:.1f}x the bare aggregate)")
        print(f"statement JSON+CSV+PDF, warm:               {statement_warm:8.3f} s  "
              "(target < 2 s)")
    finally:
        await pool.close()


@app.command()
def main() -> None:
    """Run the accounting benchmark on a private database (or HEATLINK_DATABASE_URL)."""
    with bench_database() as url:
        asyncio.run(run(url))
