"""Readings for the database tests, stored as ingest stores them and then observed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

from heatlink.testing import FakeClock
from services.monitor.runtime import MonitorRuntime

TANK = "glomfjord/smoltfarm/tank1/temp"
T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
Batch = tuple[list[str], list[datetime], list[float], list[str]]


def tank_readings(start: datetime, minutes: float, level_c: float | Sequence[float]
                  ) -> Batch:
    n = int(minutes * 6)
    ts = [start + timedelta(seconds=10 * i) for i in range(n)]
    values = list(np.broadcast_to(np.asarray(level_c, dtype=float), (n,)))
    rng = np.random.default_rng(int(start.timestamp()) % 1000)
    values = [float(v) + float(e) for v, e in zip(values, rng.normal(0, 0.02, n), strict=True)]
    return [TANK] * n, ts, values, ["good"] * n


async def store(pool: asyncpg.Pool, batch: Batch) -> None:
    """What ingest does before it tells the observer."""
    keys, ts, values, _ = batch
    ids = {r["key"]: r["id"] for r in await pool.fetch("SELECT id, key FROM series")}
    await pool.executemany(
        "INSERT INTO readings (series_id, ts, value, quality) VALUES ($1, $2, $3, 0)",
        [(ids[k], t, v) for k, t, v in zip(keys, ts, values, strict=True)])


async def ingest(pool: asyncpg.Pool, runtime: MonitorRuntime, clock: FakeClock,
                 batch: Batch) -> None:
    await store(pool, batch)
    clock.set(max(batch[1]) + timedelta(seconds=1))
    runtime.observer.readings_stored(*batch)
    await asyncio.wait_for(runtime.flush(), 10)
