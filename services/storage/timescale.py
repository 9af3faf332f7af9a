"""What the database can do with time series, and switching it on.

- TimescaleDB community build (``timescaledb.license = timescale``): hypertable,
  compression, continuous aggregates (1 min, 1 h) and a retention policy.
- Apache build (Debian's package): hypertable only; the service drops old chunks itself.
- Plain PostgreSQL: the same schema as an ordinary table; the service deletes old rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeSeriesFeatures:
    timescaledb: bool
    license: str | None
    hypertable: bool

    @property
    def community(self) -> bool:
        return self.license == "timescale"

    def describe(self) -> str:
        if not self.timescaledb:
            return "plain PostgreSQL (no TimescaleDB)"
        return f"TimescaleDB ({self.license} license), readings hypertable: {self.hypertable}"


async def detect(conn: asyncpg.Connection) -> TimeSeriesFeatures:
    installed = await conn.fetchval(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    if installed is None:
        return TimeSeriesFeatures(False, None, False)
    license_name = await conn.fetchval("SELECT current_setting('timescaledb.license', true)")
    hypertable = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
        " WHERE hypertable_name = 'readings')")
    return TimeSeriesFeatures(True, license_name, bool(hypertable))


async def enable(url: str, *, chunk_interval_hours: int, retention_days: int) -> TimeSeriesFeatures:
    """Install the extension where the server offers it and make readings a hypertable."""
    conn = await asyncpg.connect(url)
    try:
        available = await conn.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
        if available:
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            except asyncpg.PostgresError as exc:
                # Offered but not preloaded (shared_preload_libraries): run without it.
                log.warning("TimescaleDB is installed but cannot be enabled: %s", exc)
        features = await detect(conn)
        if features.timescaledb and not features.hypertable:
            await conn.execute(
                "SELECT create_hypertable('readings', 'ts', chunk_time_interval => $1::interval,"
                " if_not_exists => true, migrate_data => true)",
                timedelta(hours=chunk_interval_hours))
            features = await detect(conn)
        if features.community:
            await _enable_community_features(conn, retention_days)
        return features
    finally:
        await conn.close()


async def _enable_community_features(conn: asyncpg.Connection, retention_days: int) -> None:
    await conn.execute(
        "ALTER TABLE readings SET (timescaledb.compress,"
        " timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'ts')")
    await conn.execute(
        "SELECT add_compression_policy('readings', INTERVAL '7 days', if_not_exists => true)")
    await conn.execute(
        "SELECT add_retention_policy('readings', $1::interval, if_not_exists => true)",
        timedelta(days=retention_days))
    for name, width in (("readings_1m", "1 minute"), ("readings_1h", "1 hour")):
        await conn.execute(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}"
            " WITH (timescaledb.continuous) AS"
            f" SELECT series_id, time_bucket(INTERVAL '{width}', ts) AS bucket,"
            " avg(value) AS avg, min(value) AS min, max(value) AS max, last(value, ts) AS last"
            " FROM readings GROUP BY series_id, bucket WITH NO DATA")
        await conn.execute(
            f"SELECT add_continuous_aggregate_policy('{name}', start_offset => NULL,"
            f" end_offset => INTERVAL '{width}', schedule_interval => INTERVAL '{width}',"
            " if_not_exists => true)")


async def drop_expired(pool: asyncpg.Pool, features: TimeSeriesFeatures,
                       older_than: datetime) -> int:
    """Remove readings older than ``older_than`` where no policy does it for us."""
    if features.community:
        return 0
    if features.hypertable:
        dropped = await pool.fetch("SELECT drop_chunks('readings', older_than => $1::timestamptz)",
                                   older_than)
        return len(dropped)
    status = await pool.execute("DELETE FROM readings WHERE ts < $1", older_than)
    return int(status.split()[-1])
