"""GET /v1/alert-journal (and .csv): every transition of the caller's organisation's alerts,
filtered; GET /v1/alert-kpis: ISA-18.2 / EEMUA 191 figures of its alarm system and the
availability of its exchanges. Each organisation sees its own alerts only, as in
GET /v1/alerts; the read scope suffices."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from alerts.history import exchange_history
from alerts.kpis import Transition, alarm_figures, exchange_figures
from heatlink.clock import Clock
from heatlink.inputs import Moment, Name
from heatlink.sqlfile import load_queries
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.deps import ClockDep, IndexDep, PoolDep

router = APIRouter(prefix="/v1", tags=["alerts"])
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]
_QUERIES = Path(__file__).with_name("journal.sql")
MAX_PERIOD = timedelta(days=400)
Start = Annotated[Moment | None, Query(description="Inclusive; default end − 7 days",
                                       examples=["2026-01-08T00:00:00Z"])]
End = Annotated[Moment | None, Query(description="Exclusive; default now",
                                     examples=["2026-01-15T00:00:00Z"])]
Asset = Annotated[Name | None, Query(max_length=200, description="Only alerts on this asset "
                                     "or caused by it", examples=["glomfjord/smoltfarm/tank1"])]
ExchangeId = Annotated[Name | None, Query(max_length=200, examples=["glomfjord-smolt"])]
SeverityQ = Annotated[Literal["warning", "alarm"] | None, Query()]
Limit = Annotated[int, Query(gt=0, le=10_000)]
_RANGE: dict[int | str, dict[str, Any]] = {422: {"description": "A bad time range or filter"}}


class JournalEntry(BaseModel):
    at: datetime
    alert_id: int
    event: str = Field(description="raised, acknowledged, cleared, returned, shelved, …",
                       examples=["raised"])
    from_state: str | None
    to_state: str = Field(examples=["active_unack"])
    actor: str = Field(examples=["monitor"])
    note: str
    role: str = Field(description="The organisation's part: owner, recipient or supplier",
                      examples=["recipient"])
    kind: str = Field(examples=["supply_disruption"])
    rule_id: str | None
    condition: str = Field(examples=["disrupted"])
    severity: str = Field(examples=["alarm"])
    asset: str | None
    cause_asset: str | None
    exchange: str | None
    title: str
    detail: dict[str, Any] = Field(description="The alert's detail (cause, affected asset, "
                                   "exchange), as in GET /v1/alerts")


class Frequent(BaseModel):
    title: str
    annunciations: int


class ExchangeKpis(BaseModel):
    exchange: str = Field(examples=["glomfjord-smolt"])
    availability: float = Field(description="Share of the period without an active "
                                "supply-disruption alert", examples=[0.998])
    disruptions: int
    disruptions_per_month: float = Field(description="Per 30 days")
    mean_time_to_restore_s: float | None = Field(description="Over the disruptions that "
                                                 "ended; null when none did")


class AlertKpis(BaseModel):
    org: str
    start: datetime
    end: datetime
    annunciations: int = Field(description="Alerts raised or returned in the period")
    per_10_min_avg: float = Field(description="Annunciations per 10 minutes, for the one "
                                  "operator position an organisation stands for "
                                  "(EEMUA 191: about 1 is manageable)")
    per_10_min_max: int
    flood_share: float = Field(description="Share of 10-minute periods with more than 10")
    standing: int = Field(description="Active now and raised more than 24 h ago")
    chattering: int = Field(description="Alerts annunciated 3 times within 60 s")
    fleeting: int = Field(description="Activations that cleared within 60 s")
    top: list[Frequent] = Field(description="The ten most frequent")
    exchanges: list[ExchangeKpis]


def _range(clock: Clock, start: datetime | None, end: datetime | None
           ) -> tuple[datetime, datetime]:
    end_at = end or clock.now()
    start_at = start or end_at - timedelta(days=7)
    if start_at >= end_at:
        raise HTTPException(422, "start must be before end")
    if end_at - start_at > MAX_PERIOD:
        raise HTTPException(422, f"the period (start to end) is at most "
                            f"{MAX_PERIOD.days} days")
    return start_at, end_at


async def _entries(pool: asyncpg.Pool, clock: Clock, org: str, start: datetime | None,
                   end: datetime | None, asset: str | None, exchange: str | None,
                   severity: str | None, limit: int) -> list[JournalEntry]:
    start_at, end_at = _range(clock, start, end)
    rows = await pool.fetch(
        load_queries(_QUERIES)["journal"], org, start_at, end_at, asset, exchange, severity,
        limit)
    return [JournalEntry(**{**dict(r), "detail": _json(r["detail"])}) for r in rows]


def _json(value: Any) -> dict[str, Any]:
    found = json.loads(value) if isinstance(value, str) else value
    return found if isinstance(found, dict) else {}


@router.get("/alert-journal", response_model=list[JournalEntry], responses=_RANGE,
            summary="Every transition of the caller's organisation's alerts, newest first")
async def journal(principal: Reader, pool: PoolDep, clock: ClockDep, start: Start = None,
                  end: End = None, asset: Asset = None, exchange: ExchangeId = None,
                  severity: SeverityQ = None, limit: Limit = 1000) -> list[JournalEntry]:
    return await _entries(pool, clock, principal.org, start, end, asset, exchange, severity,
                          limit)


_CSV_FIELDS = [f for f in JournalEntry.model_fields if f != "detail"]


@router.get("/alert-journal.csv", response_class=Response,
            summary="The alert journal as CSV (RFC 4180), newest first, times in UTC",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
                       **_RANGE})
async def journal_csv(principal: Reader, pool: PoolDep, clock: ClockDep, start: Start = None,
                      end: End = None, asset: Asset = None, exchange: ExchangeId = None,
                      severity: SeverityQ = None, limit: Limit = 10_000) -> Response:
    entries = await _entries(pool, clock, principal.org, start, end, asset, exchange, severity,
                             limit)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for e in entries:
        row: dict[str, Any] = e.model_dump(exclude={"detail"})
        row["at"] = e.at.isoformat()
        writer.writerow(row)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="alert-journal-{principal.org}.csv"'})


@router.get("/alert-kpis", response_model=AlertKpis, responses=_RANGE,
            summary="ISA-18.2 / EEMUA 191 figures of the caller's alarms, and its "
                    "exchanges' availability")
async def kpis(principal: Reader, pool: PoolDep, clock: ClockDep, index: IndexDep,
               start: Start = None, end: End = None) -> AlertKpis:
    start_at, end_at = _range(clock, start, end)
    queries = load_queries(_QUERIES)
    rows = [Transition(r["at"], r["alert_id"], r["event"], r["dedup_key"], r["title"])
            for r in await pool.fetch(queries["transitions"], principal.org, start_at, end_at)]
    figures = alarm_figures(rows, start_at, end_at)
    now = clock.now()
    standing = await pool.fetch(queries["standing"], principal.org, now - timedelta(days=1))
    exchanges = (index.cluster.exchanges if index.is_facilitator(principal.org)
                 else index.exchanges_of(principal.org))
    per_exchange = []
    for e in exchanges:
        history = await exchange_history(pool, e.id, start_at, end_at)
        intervals = [(a.active_from, a.active_until) for a in history.alerts
                     if a.kind == "supply_disruption"]
        f = exchange_figures(intervals, start_at, end_at)
        per_exchange.append(ExchangeKpis(
            exchange=e.id, availability=f.availability, disruptions=f.disruptions,
            disruptions_per_month=f.disruptions_per_month,
            mean_time_to_restore_s=f.mean_time_to_restore_s))
    return AlertKpis(
        org=principal.org, start=start_at, end=end_at, annunciations=figures.annunciations,
        per_10_min_avg=figures.per_10_min_avg, per_10_min_max=figures.per_10_min_max,
        flood_share=figures.flood_share, standing=len(standing),
        chattering=len(figures.chattering), fleeting=figures.fleeting,
        top=[Frequent(title=t, annunciations=n) for t, n in figures.top],
        exchanges=per_exchange)
