"""The readings domain's reads: every query on `readings` outside ingest, in queries.sql."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from heatlink.sqlfile import load_queries
from heatlink.water import property_segments
from services.readings.schemas import Aggregate

_AGG_SQL = {
    Aggregate.AVG: "avg(value)",
    Aggregate.MIN: "min(value)",
    Aggregate.MAX: "max(value)",
    Aggregate.LAST: "(array_agg(value ORDER BY ts DESC))[1]",
}


PAGE_ROWS = 10_000


async def raw_readings(pool: asyncpg.Pool, key: str, start: datetime, end: datetime,
                       limit: int) -> list[asyncpg.Record]:
    return list(await pool.fetch(_query("raw_readings", False), key, start, end, limit))


async def bucketed_readings(pool: asyncpg.Pool, key: str, start: datetime, end: datetime,
                            step: timedelta, agg: Aggregate, timescaledb: bool
                            ) -> list[asyncpg.Record]:
    sql = _query("bucketed_readings", timescaledb).replace("{agg}", _AGG_SQL[agg])
    return list(await pool.fetch(sql, key, start, end, step))


async def latest(pool: asyncpg.Pool, keys: Iterable[str]) -> list[asyncpg.Record]:
    return list(await pool.fetch(_query("latest", False), list(keys)))


async def latest_values(conn: asyncpg.Connection, keys: list[str]) -> dict[str, float]:
    """The newest value of each of ``keys`` that has one, in the caller's transaction (the
    alerts' impact: a tank's temperature, a supply's level)."""
    if not keys:
        return {}
    rows = await conn.fetch(_query("latest_values", False), keys)
    return {r["key"]: r["value"] for r in rows}


async def readings_pages(pool: asyncpg.Pool, keys: Sequence[str], start: datetime,
                         end: datetime) -> AsyncIterator[list[asyncpg.Record]]:
    """Pages of (key, ts, value, quality) ordered by (ts, key); keyset pagination, so a
    long range never holds one connection or one huge result for its whole length."""
    after_ts: datetime | None = None
    after_key = ""
    while True:
        rows = list(await pool.fetch(_query("readings_page", False), list(keys), start, end,
                                     after_ts, after_key, PAGE_ROWS))
        if not rows:
            return
        yield rows
        if len(rows) < PAGE_ROWS:
            return
        after_ts, after_key = rows[-1]["ts"], rows[-1]["key"]


# -- time-bucketed figures for settlement (queries.sql) ----------------------------------

_QUERIES = Path(__file__).with_name("queries.sql")


def _query(name: str, timescaledb: bool) -> str:
    return load_queries(_QUERIES)[name].replace(
        "{bucket}", "time_bucket" if timescaledb else "date_bin")


async def hourly_heat(pool: asyncpg.Pool, flow: str, temp_in: str, temp_out: str,
                      start: datetime, end: datetime, step: timedelta, timescaledb: bool
                      ) -> list[asyncpg.Record]:
    """Per hour: steps with all three series, Σ power (kW) over them, mean flow and ΔΘ."""
    columns = list(zip(*property_segments(), strict=True))
    return list(await pool.fetch(_query("hourly_heat", timescaledb), flow, temp_in, temp_out,
                                 start, end, step, *(list(c) for c in columns)))


async def hourly_flow(pool: asyncpg.Pool, flow: str, start: datetime, end: datetime,
                      step: timedelta, timescaledb: bool) -> list[asyncpg.Record]:
    """Per hour: steps with readings and the mean flow over them."""
    return list(await pool.fetch(_query("hourly_flow", timescaledb), flow, start, end, step))


async def register_steps(pool: asyncpg.Pool, register: str, start: datetime, end: datetime,
                         max_step: timedelta, timescaledb: bool) -> list[asyncpg.Record]:
    """Per hour: the sum of ordinary rising steps, and the special steps whole."""
    return list(await pool.fetch(_query("register_steps", timescaledb), register, start, end,
                                 max_step))


async def hourly_band(pool: asyncpg.Pool, key: str, low: float, high: float,
                      start: datetime, end: datetime, timescaledb: bool
                      ) -> list[asyncpg.Record]:
    """Per hour: readings, and how many of them lie inside [low, high]."""
    return list(await pool.fetch(_query("hourly_band", timescaledb), key, start, end, low,
                                 high))


async def hourly_average(pool: asyncpg.Pool, keys: Sequence[str], start: datetime,
                         end: datetime, timescaledb: bool) -> list[asyncpg.Record]:
    return list(await pool.fetch(_query("hourly_average", timescaledb), list(keys), start,
                                 end))


# -- what control asks before it moves a plant ------------------------------------------


async def latest_good(conn: asyncpg.Connection, series: str) -> tuple[float, datetime] | None:
    """The newest reading of ``series`` of good quality (0), and its source timestamp."""
    row = await conn.fetchrow(_query("latest_good", False), series)
    return (row["value"], row["ts"]) if row is not None else None


async def fresh_series(conn: asyncpg.Connection, keys: Sequence[str],
                       since: datetime) -> set[str]:
    """Which of ``keys`` have a reading at or after ``since``."""
    rows = await conn.fetch(_query("fresh_series", False), list(keys), since)
    return {r["key"] for r in rows}


# -- what the monitor reads back ----------------------------------------------------------


async def energy_kwh(pool: asyncpg.Pool, series: str, since: datetime, until: datetime,
                     max_gap_s: float) -> tuple[float, int]:
    """Energy delivered by a heat-power series (kW) in [since, until): the trapezoid over
    its stored readings, no energy counted across a gap longer than ``max_gap_s``.
    Returns (kWh, readings used)."""
    row = await pool.fetchrow(_query("energy_kwh", False), series, since, until, max_gap_s)
    assert row is not None
    return float(row["kwh"]), int(row["n"])


async def readings_since(pool: asyncpg.Pool, since: datetime) -> list[asyncpg.Record]:
    """Stored readings after ``since`` (plant time), oldest first: the monitor's replay of
    what was stored while it was stopped."""
    return list(await pool.fetch(_query("readings_since", False), since))


async def series_ids(pool: asyncpg.Pool) -> dict[str, int]:
    """Every series' database id, by key."""
    return {r["key"]: r["id"] for r in await pool.fetch(_query("series_ids", False))}
