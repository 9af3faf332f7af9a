"""Planned outages: a supplier announces a window; every recipient downstream is told at once
and again at the lead time; a window announced at shorter notice than the contract asks is
flagged to both parties. During the window the trips it causes are suppressed by design."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg

from alerts import impact, store
from alerts.model import Draft, Role, Severity
from alerts.notify import Notifier
from alerts.queries import q
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex


class Alerting(Protocol):
    """What a maintenance window needs of `alerts.service.AlertService`, named here so that
    the service may import this module without a circle."""

    pool: asyncpg.Pool
    index: ClusterIndex
    clock: Clock
    notifier: Notifier

    async def apply(self, conn: asyncpg.Connection, draft: Draft, now: datetime, *,
                    actor: str) -> int: ...

    async def release(self, conn: asyncpg.Connection, now: datetime, actor: str, *,
                      parent_id: int | None = None, window_id: int | None = None
                      ) -> tuple[int, list[dict[str, object]], bool]: ...

    def wake(self) -> None: ...


@dataclass(frozen=True)
class Announced:
    window_id: int
    short_notice: bool
    notice_h: float
    told: list[str]


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str


async def announce(service: Alerting, *, exchange_id: str, org: str, actor: str,
                   starts_at: datetime, ends_at: datetime, reason: str
                   ) -> Announced | Refused:
    index = service.index
    exchange = next((e for e in index.cluster.exchanges if e.id == exchange_id), None)
    if exchange is None or org not in (exchange.supplier, exchange.recipient):
        return Refused(404, f"no exchange {exchange_id!r} of yours")
    if org != exchange.supplier:
        return Refused(403, "only the supplier announces a maintenance window")
    if ends_at <= starts_at:
        return Refused(422, "ends_at must be after starts_at")
    now = service.clock.now()
    notice_h = (starts_at - now).total_seconds() / 3600
    short = notice_h < exchange.notice_period_h
    lead = timedelta(seconds=index.cluster.alerting.maintenance_reminder_lead_s)
    remind_at = starts_at - lead if starts_at - lead > now else None
    queued = 0
    async with service.pool.acquire() as conn, conn.transaction():
        window_id: int = await conn.fetchval(
            q("announce_window"), exchange.id, org, actor, starts_at, ends_at, reason, now,
            short, remind_at)
        told = []
        # The recipient of this exchange and of every exchange downstream of its exchanger.
        affected = impact.supply_exchanges(index, exchange.exchanger)
        parties = [(e.recipient, Role.RECIPIENT, e) for e in affected]
        if short:
            parties.append((exchange.supplier, Role.SUPPLIER, exchange))
        for party, role, e in parties:
            title = (f"Planned outage of {exchange.name}: {starts_at.isoformat()} to "
                     f"{ends_at.isoformat()}")
            if short:
                title += (f" (announced {max(notice_h, 0):.1f} h ahead; the contract asks "
                          f"{exchange.notice_period_h:g} h)")
            detail = {"window_id": window_id, "exchange": {"id": e.id, "name": e.name},
                      "announced_exchange": exchange.id,
                      "announced_exchange_name": exchange.name, "starts_at": starts_at.isoformat(),
                      "ends_at": ends_at.isoformat(), "reason": reason,
                      "short_notice": short, "notice_h": notice_h,
                      "contract_notice_h": exchange.notice_period_h,
                      "contingency": list(e.contingency)}
            draft = Draft(f"maintenance:{window_id}", party, role, "maintenance",
                          "short_notice" if short else "announced", True,
                          Severity.ALARM if short else Severity.WARNING, title,
                          exchange=e.id, asset=e.recipient_assets[0] if e.recipient_assets
                          else None, cause_asset=exchange.exchanger, detail=detail)
            queued += await service.apply(conn, draft, now, actor=actor)
            told.append(party)
    if queued:
        service.wake()
    return Announced(window_id, short, notice_h, told)


async def send_reminders(conn: asyncpg.Connection, service: Alerting,
                         now: datetime) -> int:
    """Tell the recipients again at the lead time before each window."""
    windows = await conn.fetch(q("due_reminders"), now)
    queued = 0
    for window in windows:
        await conn.execute(q("reminded"), window["id"], now)
        rows = await conn.fetch(q("alerts_of_key"), f"maintenance:{window['id']}")
        for r in rows:
            alert = await store.get(conn, r["id"], for_update=True)
            if alert is None:
                continue
            transition_id = await store.transition(conn, alert.id, now, "system", "reminder",
                                                   alert.state, alert.state)
            queued += len(await service.notifier.notify(conn, alert, transition_id,
                                                        "reminder", now,
                                                        ignore_silence=True))
    return queued


async def close_ended(conn: asyncpg.Connection, service: Alerting, now: datetime) -> int:
    """Clear the notices of windows that have ended: the recipients are told so."""
    windows = await conn.fetch(q("ended_windows"), now)
    queued = 0
    for window in windows:
        await conn.execute(q("closed"), window["id"], now)
        for r in await conn.fetch(q("alerts_of_key"), f"maintenance:{window['id']}"):
            alert = await store.get(conn, r["id"])
            if alert is None:
                continue
            ended = Draft(alert.dedup_key, alert.org, Role(alert.role), alert.kind, "ended",
                          False, alert.severity, alert.title, exchange=alert.exchange,
                          asset=alert.asset, cause_asset=alert.cause_asset,
                          detail=alert.detail)
            queued += await service.apply(conn, ended, now, actor="system")
        # A trip that outlasts the window it was announced for is news again.
        queued += (await service.release(conn, now, "system", window_id=window["id"]))[0]
    return queued


async def list_windows(conn: asyncpg.Connection, exchanges: list[str]) -> list[dict[str, object]]:
    rows = await conn.fetch(q("list_windows"), exchanges)
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(r).items()}
            for r in rows]
