"""The accounting domain's tables (migration 0400_accounting.sql), through queries.sql."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg

from heatlink.sqlfile import load_queries
from services.accounting.metered import PointHour

_QUERIES = Path(__file__).with_name("queries.sql")

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection  # either runs a query


def q(name: str) -> str:
    return load_queries(_QUERIES)[name]


async def cached_point_hours(db: Conn, exchange: str, point: str, start: datetime,
                             end: datetime) -> dict[datetime, PointHour]:
    rows = await db.fetch(q("cached_point_hours"), exchange, point, start, end)
    return {r["hour"]: PointHour(r["point"], r["hour"], r["value"], r["coverage"],
                                 r["mean_flow"], r["mean_dtheta_k"], r["error_pct"],
                                 tuple(r["flags"])) for r in rows}


async def store_point_hours(db: Conn, exchange: str, point: str, hours: Sequence[PointHour],
                            now: datetime) -> None:
    if not hours:
        return
    # A text[] column from one unnest: each hour's flags travel as one comma-joined text.
    await db.execute(q("store_point_hours"), exchange, point, [h.hour for h in hours],
                     [h.value for h in hours], [h.coverage for h in hours],
                     [h.mean_flow for h in hours], [h.mean_dtheta_k for h in hours],
                     [h.error_pct for h in hours], [",".join(h.flags) for h in hours], now)


async def forget_point_hours(db: Conn, exchange: str, point: str, first: datetime,
                             last: datetime) -> None:
    await db.execute(q("forget_point_hours"), exchange, point, first, last)


async def forget_open(db: Conn, since: datetime) -> None:
    await db.execute(q("forget_open_hours"), since)
    await db.execute(q("forget_open_band_hours"), since)


async def cached_band_hours(db: Conn, exchange: str, start: datetime,
                            end: datetime) -> dict[datetime, tuple[int, int]]:
    rows = await db.fetch(q("cached_band_hours"), exchange, start, end)
    return {r["hour"]: (r["readings"], r["in_band"]) for r in rows}


async def store_band_hours(db: Conn, exchange: str, hours: dict[datetime, tuple[int, int]],
                           now: datetime) -> None:
    if hours:
        items = sorted(hours.items())
        await db.execute(q("store_band_hours"), exchange, [h for h, _ in items],
                         [v[0] for _, v in items], [v[1] for _, v in items], now)


async def forget_band_hours(db: Conn, exchange: str, first: datetime, last: datetime) -> None:
    await db.execute(q("forget_band_hours"), exchange, first, last)


async def audit(db: Conn, at: datetime, exchange: str, org: str, actor: str, action: str,
                detail: dict[str, Any]) -> None:
    await db.execute(q("audit"), at, exchange, org, actor, action, json.dumps(detail))


async def audit_log(db: Conn, exchange: str, limit: int) -> list[dict[str, Any]]:
    rows = await db.fetch(q("audit_log"), exchange, limit)
    return [{"at": r["at"], "org": r["org"], "actor": r["actor"], "action": r["action"],
             "detail": json.loads(r["detail"])} for r in rows]
