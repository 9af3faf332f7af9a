"""State providers from what the alert part knows: active alerts and maintenance windows.

They ask the alerts domain (``alerts/history.py``), one small query each; where its tables
do not exist (a service built without the alert part) they have no opinion.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

import asyncpg

from alerts import history as alert_history
from heatlink.cluster.index import ClusterIndex
from services.dashboard.state import Latest, State, Status, Statuses, Viewer, worst

log = logging.getLogger(__name__)

_SEVERITY = {"alarm": State.ALARM, "warning": State.WARNING}


class ActiveAlertStates:
    """An exchange or asset with an active, unshelved alert of the viewer's organisation
    takes the alert's severity (its own alerts only: as in GET /v1/alerts)."""

    def __init__(self, pool: asyncpg.Pool, index: ClusterIndex) -> None:
        self.pool = pool
        self.index = index

    async def statuses(self, viewer: Viewer, latest: Mapping[str, Latest],
                       now: datetime) -> Statuses:
        out = Statuses()
        try:
            rows = await alert_history.standing_alerts(self.pool, viewer.org, now)
        except asyncpg.UndefinedTableError:
            return out
        for r in rows:
            # The page shows the alert's own words, in its language, by the alert's id.
            status = Status(_SEVERITY.get(r["severity"], State.WARNING), r["title"],
                            "reason.alert", {"alert": r["id"]})
            targets: list[tuple[dict[str, Status], str]] = []
            if r["exchange"]:
                targets.append((out.exchanges, r["exchange"]))
                exchange = next((e for e in self.index.cluster.exchanges
                                 if e.id == r["exchange"]), None)
                if exchange is not None:
                    targets.append((out.assets, exchange.exchanger))
            if r["asset"]:
                targets.append((out.assets, r["asset"]))
            for mapping, key in targets:
                mapping[key] = worst([status, *([mapping[key]] if key in mapping else [])]) \
                    or status
        return out


class MaintenanceStates:
    """An exchange inside an announced, not cancelled maintenance window is a planned
    outage, and so is its exchanger; shown to the exchange's parties (and facilitator)."""

    def __init__(self, pool: asyncpg.Pool, index: ClusterIndex) -> None:
        self.pool = pool
        self.index = index

    async def statuses(self, viewer: Viewer, latest: Mapping[str, Latest],
                       now: datetime) -> Statuses:
        out = Statuses()
        if not viewer.exchanges:
            return out
        try:
            rows = await alert_history.windows_in_force(self.pool, sorted(viewer.exchanges),
                                                         now)
        except asyncpg.UndefinedTableError:
            return out
        exchangers = {e.id: e.exchanger for e in self.index.cluster.exchanges}
        for r in rows:
            reason = f": {r['reason']}" if r["reason"] else ""
            until = r["ends_at"].strftime("%Y-%m-%d %H:%M")
            status = Status(State.PLANNED_OUTAGE, f"maintenance until {until} UTC{reason}",
                            "reason.maintenance", {"until": r["ends_at"].isoformat(),
                                                   "why": r["reason"] or ""})
            out.exchanges[r["exchange"]] = status
            if r["exchange"] in exchangers:
                out.assets[exchangers[r["exchange"]]] = status
        return out
