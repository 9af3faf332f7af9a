"""The accounting use cases that read: a month's statement and the hourly figures of a range.

A month is computed from the kept hourly figures of its metering points (see figures.py),
settled per resource, and assembled into the statement document. A closed revision is
served exactly as it was frozen. The service reads time only from its clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from alerts.history import exchange_history
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.metering import RESOURCE_UNIT, MeteringPoint, Resource
from heatlink.cluster.model import Exchange
from services.accounting import availability as avail
from services.accounting import closing, rules
from services.accounting.closing import AUTOMATIC, Frozen
from services.accounting.figures import HourlyFigures
from services.accounting.months import HOUR, Month, hours_between, month_of, months_between
from services.accounting.settle import SettledResource, settle
from services.accounting.statement import RuleInfo, Standing, Statement, build, canonical
from services.accounting.statement_csv import render_csv
from services.accounting.statement_pdf import render_pdf
from services.accounting.store import q

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Document:
    """A statement in its three forms; ``pdf`` and ``csv`` are made on demand while open."""

    body: bytes
    content_sha256: str
    status: str
    revision: int
    frozen: Frozen | None

    def csv(self, lang: str = "en") -> str:
        """A closed month in English is the bytes stored at its closing; in another language
        it is made from the stored JSON, which (with the language) fixes every byte."""
        if self.frozen and lang == "en":
            return self.frozen.csv
        return render_csv(json.loads(self.body), lang)

    def pdf(self, lang: str = "en") -> bytes:
        if self.frozen and lang == "en":
            return self.frozen.pdf
        return render_pdf(json.loads(self.body), lang)


def resource_points(exchange: Exchange) -> list[tuple[Resource, MeteringPoint,
                                                       MeteringPoint | None]]:
    """(resource, billing meter, check meter) for every resource the contract settles."""
    out = []
    for resource in Resource:
        points = [p for p in exchange.metering_points if p.resource == resource]
        if not points:
            continue
        billing = next((p for p in points if p.billing), points[0])
        check = next((p for p in points if p is not billing), None)
        out.append((resource, billing, check))
    return out


class AccountingService:
    def __init__(self, pool: asyncpg.Pool, index: ClusterIndex, clock: Clock,
                 figures: HourlyFigures) -> None:
        self.pool = pool
        self.index = index
        self.clock = clock
        self.figures = figures
        self.tz = index.timezone

    # -- composing a month -----------------------------------------------------------------

    async def compose(self, exchange: Exchange, month: Month, standing: Standing) -> Statement:
        assert exchange.settlement is not None
        settlement = exchange.settlement
        start, end = month.start(self.tz), month.end(self.tz)
        now = self.clock.now()
        month_hours = len(hours_between(start, end))
        hours = [h for h in hours_between(start, end) if h + HOUR <= now]
        found = await rules.versions(self.pool, exchange.id)
        in_force = self._rule_for(found, standing)
        rule = in_force.rule if in_force else None
        resources: list[SettledResource] = []
        for resource, billing, check in resource_points(exchange):
            week = (hours_between(start - WEEK, start) if rule and any(
                m.method == "same_hour_last_week" for m in rule.methods) else [])
            b = await self.figures.point_hours(exchange, billing, week + hours,
                                               settlement.min_coverage)
            c = ({} if check is None else await self.figures.point_hours(
                exchange, check, hours, settlement.min_coverage))
            resources.append(settle(resource, RESOURCE_UNIT[resource], billing, check, hours,
                                    b, c, rule, in_force.version if in_force else 0,
                                    month_hours))
        band = await self.figures.band_hours(exchange, hours)
        history = await exchange_history(self.pool, exchange.id, start, end)
        windows = [(w.starts_at, w.ends_at) for w in history.windows]
        disruptions = [(a.active_from, a.active_until) for a in history.alerts
                       if a.kind == "supply_disruption"]
        availability = {h: avail.classify(
            h, band.get(h) if exchange.supply_band else None, windows, disruptions,
            settlement.availability.min_in_band_share) for h in hours}
        comments = [{"id": r["id"], "hour": r["hour"].isoformat(), "resource": r["resource"],
                     "org": r["org"], "author": r["author"], "at": r["at"].isoformat(),
                     "text": r["text"]}
                    for r in await self.pool.fetch(q("comments"), exchange.id, start, end)
                    if standing.closed_at is None or r["at"] <= standing.closed_at]
        info = RuleInfo(in_force.version, in_force.spec,
                        tuple(o for o in (in_force.proposed_by_org, in_force.agreed_by_org)
                              if o), in_force.agreed_at) if in_force else RuleInfo(
            0, None, (), None)
        return build(exchange, settlement, month, self.tz, hours, month_hours, resources,
                     availability, history, comments, info, standing)

    @staticmethod
    def _rule_for(found: list[rules.RuleVersion], standing: Standing
                  ) -> rules.RuleVersion | None:
        """The newest version agreed by the time the month is closed (or now, while open)."""
        usable = [v for v in found if v.agreed_at is not None
                  and (standing.closed_at is None or v.agreed_at <= standing.closed_at)]
        return usable[-1] if usable else None

    async def frozen(self, exchange: Exchange, month: Month, standing: Standing) -> Frozen:
        body = await self.compose(exchange, month, standing)
        return Frozen(canonical(body).decode(), body["content_sha256"], render_csv(body),
                      render_pdf(body))

    # -- reading -----------------------------------------------------------------------------

    async def close_if_due(self, exchange: Exchange, month: Month) -> None:
        """Close revision 1 by itself once the contract's days after the month have passed."""
        assert exchange.settlement is not None
        due = closing.auto_close_at(month, self.tz, exchange.settlement.close_after_days)
        if self.clock.now() < due:
            return
        await closing.freeze(self.pool, exchange.id, month, (AUTOMATIC,), due,
                             lambda standing: self.frozen(exchange, month, standing),
                             only_revision=1)

    async def close_due(self, months_back: int = 3) -> None:
        """The periodic sweep: recent months of every exchange that settles."""
        current = month_of(self.clock.now(), self.tz)
        for exchange in self.index.cluster.exchanges:
            if exchange.settlement is None or not exchange.metering_points:
                continue
            month = current
            for _ in range(months_back):
                month = month.previous()
                await self.close_if_due(exchange, month)

    async def statement(self, exchange: Exchange, month: Month, revision: int | None = None,
                        draft: bool = False) -> Document | None:
        """The latest closed revision, else the open one; or the revision asked for. None
        when that revision does not exist."""
        await self.close_if_due(exchange, month)
        state = await closing.state(self.pool, exchange.id, month)
        if revision is None and not draft and state.latest_closed is not None:
            revision = state.latest_closed
        if revision is not None:
            found = await closing.closed_document(self.pool, exchange.id, month, revision)
            if found is None:
                return None
            return Document(found.body.encode(), found.content_sha256, "closed", revision,
                            found)
        if state.open_revision is None:
            return None
        body = await self.compose(exchange, month, state.open_standing())
        return Document(canonical(body), body["content_sha256"], "open", state.open_revision,
                        None)

    async def energy(self, exchange: Exchange, start: datetime, end: datetime
                     ) -> list[dict[str, Any]]:
        """Hourly figures of [start, end): closed months as closed, open ones as they are."""
        out: list[dict[str, Any]] = []
        for month in months_between(start, end, self.tz):
            document = await self.statement(exchange, month)
            if document is None:
                continue
            body = json.loads(document.body)
            for hour in body["hours"]:
                moment = datetime.fromisoformat(hour["hour"])
                if start <= moment < end:
                    out.append({**hour, "month": str(month), "revision": document.revision,
                                "status": document.status})
        return out
