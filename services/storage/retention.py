"""Dropping readings past retention where the database has no policy to do it."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg

from heatlink.clock import Clock
from services.metrics import ServiceMetrics
from services.storage.health import StorageHealth
from services.storage.timescale import TimeSeriesFeatures, drop_expired

log = logging.getLogger(__name__)


async def retention_loop(pool: asyncpg.Pool, features: TimeSeriesFeatures, clock: Clock,
                         retention_days: int, interval_s: float,
                         metrics: ServiceMetrics, storage: StorageHealth | None = None) -> None:
    if features.community:
        return  # the retention policy runs inside TimescaleDB
    while True:
        try:
            dropped = await drop_expired(pool, features,
                                         clock.now() - timedelta(days=retention_days))
            metrics.retention_dropped.inc(dropped)
            if dropped:
                log.info("retention: dropped %d old %s", dropped,
                         "chunks" if features.hypertable else "rows")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # An outage is told once by `storage`; the next round tries again.
            if storage is None or not storage.failed(exc, "retention"):
                log.warning("retention: could not drop old readings: %s", exc)
        await asyncio.sleep(interval_s)
