"""`heatlink bench storage`: what a stored reading costs on disk and in the WAL.

Starts `heatlink serve` on a private database (so the schema is the service's own:
hypertable, indexes, and on the community build compression), COPYs ``readings``
readings of ``series`` series one ``interval_s`` apart, and prints bytes per reading of
the readings table (heap, indexes, TOAST; every chunk of the hypertable) and of WAL
written, the figures a capacity plan multiplies. With compression available it also
compresses every chunk and prints the compressed figure.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import typer

from bench.ingest import bench_cluster
from bench.system import bench_database, bench_service

app = typer.Typer(add_completion=False)


@app.command()
def main(
    readings: int = typer.Option(2_000_000, help="Readings to store"),
    series: int = typer.Option(1000, help="Series they spread over"),
    interval_s: float = typer.Option(10.0, help="Seconds between a series' readings"),
) -> None:
    """Measure bytes per stored reading, table and WAL."""
    folder = Path(tempfile.mkdtemp(prefix="heatlink-bench-"))
    cluster_file, _ = bench_cluster(series, folder)
    with bench_database() as url, bench_service(url, cluster_file):
        asyncio.run(_measure(url, readings, series, interval_s))


async def _measure(url: str, readings: int, series: int, interval_s: float) -> None:
    conn = await asyncpg.connect(url)
    try:
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM series WHERE key LIKE 'bench/%' ORDER BY id")][:series]
        start = datetime.now(UTC) - timedelta(seconds=interval_s * readings / len(ids))
        wal_before = await conn.fetchval("SELECT pg_current_wal_lsn()")
        stored = 0
        step = 0
        # 24 °C-ish values with the small steps of a real signal after deadband.
        while stored < readings:
            ts = start + timedelta(seconds=step * interval_s)
            rows = [(sid, ts, 20.0 + ((step + sid) % 97) / 10, 0) for sid in ids]
            await conn.copy_records_to_table("readings", records=rows,
                                             columns=("series_id", "ts", "value", "quality"))
            stored += len(rows)
            step += 1
        await conn.execute("CHECKPOINT")
        wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)",
                                  wal_before)
        hyper = await conn.fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") and \
            await conn.fetchval("SELECT count(*) FROM timescaledb_information.hypertables"
                                " WHERE hypertable_name = 'readings'")
        size_sql = ("SELECT hypertable_size('readings')" if hyper
                    else "SELECT pg_total_relation_size('readings')")
        size = await conn.fetchval(size_sql)
        print(f"stored {stored:,} readings of {len(ids)} series, {interval_s:g} s apart"
              f" ({'hypertable' if hyper else 'plain table'})")
        print(f"table, indexes included: {size / stored:.1f} bytes per reading "
              f"({size / 2**20:,.0f} MiB)")
        print(f"WAL written:             {float(wal) / stored:.1f} bytes per reading")
        licence = await conn.fetchval("SELECT current_setting('timescaledb.license', true)")
        if hyper and licence == "timescale":
            await conn.execute("SELECT compress_chunk(c, true) FROM show_chunks('readings') c")
            size = await conn.fetchval(size_sql)
            print(f"compressed:              {size / stored:.1f} bytes per reading")
        else:
            print(f"compression: not available (timescaledb.license = {licence})")
    finally:
        await conn.close()
