"""GET /v1/series, /v1/series/{key}/readings, /v1/latest."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Path, Query

from heatlink.cluster.index import ClusterIndex, SeriesInfo
from heatlink.inputs import Moment
from heatlink.quality import QUALITY_NAMES
from services.access import log as access_log
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.api.openapi import link
from services.deps import ClockDep, FeaturesDep, IndexDep, PoolDep, SettingsDep
from services.readings import store
from services.readings.schemas import Aggregate, LatestOut, Point, ReadingsOut, SeriesOut

router = APIRouter(prefix="/v1", tags=["readings"])
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]
SeriesKey = Annotated[str, Path(description="A series key (GET /v1/series lists them)",
                                examples=["glomfjord/smelter/hx1/secondary/supply_temp"])]
_FIRST = {"key": "$response.body#/0/key"}


async def visible_series_or_404(index: ClusterIndex, pool: asyncpg.Pool, principal: Principal,
                                key: str, door: str = "rest") -> SeriesInfo:
    info = index.series.get(key)
    if info is None or key not in index.visible_series(principal.org):
        if info is not None:  # the owner learns of the attempt; the caller learns nothing
            await access_log.log_denied(pool, principal.org, [(info.owner, key)], door)
        # The same answer for "does not exist" and "not yours": no hint that it exists.
        raise HTTPException(404, f"no series {key!r} visible to {principal.org}; "
                            "GET /v1/series lists the ones you can read")
    return info


@router.get("/series", response_model=list[SeriesOut], summary="Series the caller may read",
            responses={200: {"links": {
                "readings": link("/v1/series/{key}/readings", "get", **_FIRST),
                "export": link("/v1/series/{key}/export.csv", "get", **_FIRST)}}})
async def list_series(principal: Reader, index: IndexDep) -> list[SeriesOut]:
    visible = index.visible_series(principal.org)
    return [SeriesOut(**vars(info)) for key, info in sorted(index.series.items())
            if key in visible]


# Timestamps are kept to the microsecond; ten years is wider than any bucket worth asking for.
MIN_STEP_S = 0.001
MAX_STEP_S = 10 * 365.25 * 86400


@router.get("/series/{key:path}/readings", response_model=ReadingsOut,
            summary="Readings of one series, raw or bucketed",
            responses={404: {"description": "The series does not exist or is not visible to "
                                            "the caller"},
                       422: {"description": "A bad range or step, or more points than "
                                            "HEATLINK_QUERY_MAX_POINTS; `detail` says which"}})
async def series_readings(
    principal: Reader, key: SeriesKey, index: IndexDep, pool: PoolDep, clock: ClockDep,
    settings: SettingsDep, features: FeaturesDep,
    start: Annotated[Moment | None, Query(description="Inclusive; default end − 1 h")] = None,
    end: Annotated[Moment | None, Query(description="Exclusive; default now")] = None,
    step: Annotated[float | None, Query(
        ge=MIN_STEP_S, le=MAX_STEP_S, allow_inf_nan=False,
        description="Bucket width in seconds, from 0.001 to ten years; omit for raw "
                    "readings")] = None,
    agg: Annotated[Aggregate, Query(description="Aggregate per bucket")] = Aggregate.AVG,
) -> ReadingsOut:
    info = await visible_series_or_404(index, pool, principal, key)
    end = end or clock.now()
    start = start or end - timedelta(hours=1)
    if start >= end:
        raise HTTPException(422, "start must be before end")
    max_points = settings.query_max_points
    if step is None:
        rows = await store.raw_readings(pool, key, start, end, max_points + 1)
        if len(rows) > max_points:
            raise HTTPException(422, f"the range holds more than {max_points} raw readings; "
                                "narrow it or pass step= (seconds) to aggregate")
        points = [Point(ts=r["ts"], value=r["value"], quality=QUALITY_NAMES[r["quality"]])
                  for r in rows]
    else:
        buckets = (end - start).total_seconds() / step
        if buckets > max_points:
            raise HTTPException(422, f"{buckets:.0f} buckets exceed the bound of {max_points}; "
                                "use a larger step or a narrower range")
        rows = await store.bucketed_readings(pool, key, start, end, timedelta(seconds=step),
                                             agg, features.timescaledb)
        points = [Point(ts=r["ts"], value=r["value"]) for r in rows]
    await access_log.log_access(pool, principal.org, [(info.owner, key)], "rest")
    return ReadingsOut(series=key, unit=info.unit, start=start, end=end, step_s=step,
                       agg=agg if step else None, points=points)


@router.get("/latest", response_model=list[LatestOut],
            summary="Latest value and its age for every series the caller may read")
async def latest(principal: Reader, index: IndexDep, pool: PoolDep,
                 clock: ClockDep) -> list[LatestOut]:
    visible = index.visible_series(principal.org)
    now = clock.now()
    rows = await store.latest(pool, visible)
    out = []
    for r in rows:
        ts = r["ts"]
        out.append(LatestOut(series=r["key"], unit=r["unit"], ts=ts, value=r["value"],
                             quality=None if r["quality"] is None else QUALITY_NAMES[r["quality"]],
                             age_s=None if ts is None else (now - ts).total_seconds()))
    await access_log.log_access(pool, principal.org,
                                [(index.series[r["key"]].owner, r["key"]) for r in rows
                                 if r["ts"] is not None], "rest")
    return out

