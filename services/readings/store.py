"""SQL for reading queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg

from services.readings.schemas import Aggregate

_AGG_SQL = {
    Aggregate.AVG: "avg(value)",
    Aggregate.MIN: "min(value)",
    Aggregate.MAX: "max(value)",
    Aggregate.LAST: "(array_agg(value ORDER BY ts DESC))[1]",
}


async def raw_readings(pool: asyncpg.Pool, key: str, start: datetime, end: datetime,
                       limit: int) -> list[asyncpg.Record]:
    return list(await pool.fetch(
        "SELECT r.ts, r.value, r.quality FROM readings r JOIN series s ON s.id = r.series_id"
        " WHERE s.key = $1 AND r.ts >= $2 AND r.ts < $3 ORDER BY r.ts LIMIT $4",
        key, start, end, limit))


async def bucketed_readings(pool: asyncpg.Pool, key: str, start: datetime, end: datetime,
                            step: timedelta, agg: Aggregate, timescaledb: bool
                            ) -> list[asyncpg.Record]:
    bucket = ("time_bucket($4::interval, r.ts, $2::timestamptz)" if timescaledb
              else "date_bin($4::interval, r.ts, $2::timestamptz)")
    return list(await pool.fetch(
        f"SELECT {bucket} AS ts, {_AGG_SQL[agg]} AS value"
        " FROM readings r JOIN series s ON s.id = r.series_id"
        " WHERE s.key = $1 AND r.ts >= $2::timestamptz AND r.ts < $3::timestamptz"
        " GROUP BY 1 ORDER BY 1",
        key, start, end, step))


async def latest(pool: asyncpg.Pool, keys: Iterable[str]) -> list[asyncpg.Record]:
    return list(await pool.fetch(
        "SELECT s.key, s.unit, r.ts, r.value, r.quality FROM series s"
        " LEFT JOIN LATERAL (SELECT ts, value, quality FROM readings"
        "   WHERE series_id = s.id ORDER BY ts DESC LIMIT 1) r ON true"
        " WHERE s.key = ANY($1::text[]) ORDER BY s.key", list(keys)))


async def log_access(pool: asyncpg.Pool, reader_org: str,
                     reads: Iterable[tuple[str, str]], door: str) -> None:
    """Record reads of other organisations' series: (owner org, series key)."""
    rows = [(reader_org, owner, key, door) for owner, key in reads if owner != reader_org]
    if rows:
        await pool.executemany(
            "INSERT INTO access_log (reader_org, owner_org, series, door)"
            " VALUES ($1, $2, $3, $4)", rows)


async def log_denied(pool: asyncpg.Pool, reader_org: str, refused: Iterable[tuple[str, str]],
                     door: str, reason: str = "not shared with the reader") -> None:
    """Record refused reads of other organisations' series: (owner org, series key). The
    caller got the same 404 as for a series that does not exist; the owner sees why."""
    rows = [(reader_org, owner, key, door, reason) for owner, key in refused
            if owner != reader_org]
    if rows:
        await pool.executemany(
            "INSERT INTO access_log (reader_org, owner_org, series, door, outcome, reason)"
            " VALUES ($1, $2, $3, $4, 'denied', $5)", rows)
