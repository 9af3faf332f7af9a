"""GET /v1/series/{key}/export.csv and GET /v1/export.csv: raw readings as CSV."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from heatlink.inputs import Moment
from heatlink.quality import QUALITY_NAMES
from services.access import log as access_log
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.deps import ClockDep, IndexDep, PoolDep
from services.readings.router import SeriesKey, visible_series_or_404
from services.readings.store import readings_pages

router = APIRouter(prefix="/v1", tags=["export"])
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]

HEADER = "series,ts,value,quality\r\n"
_CSV_EXAMPLE = (HEADER + "glomfjord/smelter/hx1/secondary/supply_temp,"
                "2026-01-15T06:00:00+00:00,18.4,good\r\n")
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV (RFC 4180), one row per reading, oldest first; times are "
                         "UTC in RFC 3339",
          "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}}},
    401: {"description": "Missing or unknown token"},
    404: {"description": "The series does not exist or is not visible to the caller"},
    422: {"description": "A bad time range"},
}
Start = Annotated[Moment | None, Query(description="Inclusive, with offset; default end − 24 h",
                                       examples=["2026-01-15T00:00:00Z"])]
End = Annotated[Moment | None, Query(description="Exclusive, with offset; default now",
                                     examples=["2026-01-15T06:00:00Z"])]


def _range(clock: Clock, start: datetime | None, end: datetime | None
           ) -> tuple[datetime, datetime]:
    end_at = end or clock.now()
    start_at = start or end_at - timedelta(days=1)
    if start_at >= end_at:
        raise HTTPException(422, "start must be before end")
    return start_at, end_at


async def _csv(first: list[Any] | None, pages: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    yield HEADER.encode()
    if first is None:
        return
    yield _rows(first)
    async for page in pages:
        yield _rows(page)


def _rows(page: list[Any]) -> bytes:
    return "".join(f"{r['key']},{r['ts'].isoformat()},{r['value']!r},"
                   f"{QUALITY_NAMES[r['quality']]}\r\n" for r in page).encode()


async def _export(index: ClusterIndex, pool: asyncpg.Pool, principal: Principal,
                  keys: Sequence[str], start: datetime, end: datetime, filename: str
                  ) -> StreamingResponse:
    # Logged when the export starts: what was asked for is what the owner wants to know.
    await access_log.log_access(pool, principal.org,
                                [(index.series[k].owner, k) for k in keys], "export")
    # The first page before the answer starts: a database that cannot be read is a 503
    # (services/storage/answers.py), not a 200 that breaks off.
    pages = readings_pages(pool, keys, start, end)
    first = await anext(pages, None)
    return StreamingResponse(
        _csv(first, pages), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                 "Cache-Control": "no-store"})


def _filename(stem: str, start: datetime) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:120] + f"_{start:%Y%m%dT%H%M%SZ}.csv"


@router.get("/series/{key:path}/export.csv", response_class=StreamingResponse,
            summary="Raw readings of one series as CSV", responses=_RESPONSES)
async def export_series(principal: Reader, key: SeriesKey, index: IndexDep, pool: PoolDep,
                        clock: ClockDep, start: Start = None, end: End = None
                        ) -> StreamingResponse:
    await visible_series_or_404(index, pool, principal, key, "export")
    start_at, end_at = _range(clock, start, end)
    return await _export(index, pool, principal, [key], start_at, end_at,
                         _filename(key, start_at))


@router.get("/export.csv", response_class=StreamingResponse,
            summary="Raw readings of several series as one CSV", responses=_RESPONSES)
async def export_many(
    principal: Reader, index: IndexDep, pool: PoolDep, clock: ClockDep,
    series: Annotated[list[str], Query(min_length=1, max_length=500, description="Series "
                                       "keys; repeat the parameter",
                                       examples=["glomfjord/smelter/hx1/secondary/flow"])],
    start: Start = None, end: End = None,
) -> StreamingResponse:
    keys = sorted(set(series))
    for key in keys:
        await visible_series_or_404(index, pool, principal, key, "export")
    start_at, end_at = _range(clock, start, end)
    return await _export(index, pool, principal, keys, start_at, end_at,
                         _filename("heatlink_export", start_at))
