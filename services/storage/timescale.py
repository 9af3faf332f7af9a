"""What the database can do with time series, and switching it on.

- TimescaleDB community build (``timescaledb.license = timescale``): hypertable,
  compression, continuous aggregates (1 min, 1 h) and a retention policy.
- Apache build (Debian's package): hypertable only; the service drops old chunks itself.
- Plain PostgreSQL: the same schema as an ordinary table; the service deletes old rows.

The statements are in timescale.sql.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from heatlink.sqlfile import load_queries

log = logging.getLogger(__name__)

_QUERIES = Path(__file__).with_name("timescale.sql")


def q(name: str) -> str:
    """The statement ``name`` of timescale.sql."""
    return load_queries(_QUERIES)[name]


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
    installed = await conn.fetchval(q("installed_version"))
    if installed is None:
        return TimeSeriesFeatures(False, None, False)
    license_name = await conn.fetchval(q("license"))
    hypertable = await conn.fetchval(q("readings_is_hypertable"))
    return TimeSeriesFeatures(True, license_name, bool(hypertable))


async def enable(url: str, *, chunk_interval_hours: int, retention_days: int) -> TimeSeriesFeatures:
    """Install the extension where the server offers it and make readings a hypertable."""
    conn = await asyncpg.connect(url)
    try:
        available = await conn.fetchval(q("available"))
        if available:
            try:
                await conn.execute(q("create_extension"))
            except asyncpg.PostgresError as exc:
                # Offered but not preloaded (shared_preload_libraries): run without it.
                log.warning("TimescaleDB is installed but cannot be enabled: %s", exc)
        features = await detect(conn)
        if features.timescaledb and not features.hypertable:
            await conn.execute(q("create_hypertable"), timedelta(hours=chunk_interval_hours))
            features = await detect(conn)
        if features.community:
            await _enable_community_features(conn, retention_days)
        return features
    finally:
        await conn.close()


async def _enable_community_features(conn: asyncpg.Connection, retention_days: int) -> None:
    await conn.execute(q("compress_readings"))
    await conn.execute(q("compression_policy"))
    await conn.execute(q("retention_policy"), timedelta(days=retention_days))
    # The continuous aggregates (1 min, 1 h), each with the policy that keeps it fresh.
    for name in ("create_readings_1m", "refresh_readings_1m",
                 "create_readings_1h", "refresh_readings_1h"):
        await conn.execute(q(name))


async def drop_expired(pool: asyncpg.Pool, features: TimeSeriesFeatures,
                       older_than: datetime) -> int:
    """Remove readings older than ``older_than`` where no policy does it for us."""
    if features.community:
        return 0
    if features.hypertable:
        dropped = await pool.fetch(q("drop_chunks"), older_than)
        return len(dropped)
    status = await pool.execute(q("delete_readings"), older_than)
    return int(status.split()[-1])
