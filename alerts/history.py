"""What the alerts domain tells others, so no other domain reads its tables: an exchange's
past (announced maintenance windows and the intervals its alerts were active, for the
settlement statement), what stands now (for the dashboard) and active alarms (for control's
interlocks)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from alerts.model import AlertState
from heatlink.sqlfile import load_queries

_QUERIES = Path(__file__).with_name("history.sql")


@dataclass(frozen=True)
class Window:
    id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    announced_at: datetime
    short_notice: bool


@dataclass
class ActiveAlert:
    """One active interval of one alert condition, the organisations told merged."""

    dedup_key: str
    kind: str
    severity: str
    title: str
    active_from: datetime
    active_until: datetime | None  # None: still active
    orgs: set[str] = field(default_factory=set)
    alert_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class ExchangeHistory:
    windows: list[Window]
    alerts: list[ActiveAlert]


async def exchange_history(pool: asyncpg.Pool, exchange: str, start: datetime,
                           end: datetime) -> ExchangeHistory:
    queries = load_queries(_QUERIES)
    windows = [Window(r["id"], r["starts_at"], r["ends_at"], r["reason"], r["announced_at"],
                      r["short_notice"])
               for r in await pool.fetch(queries["maintenance_windows"], exchange, start, end)]
    merged: dict[tuple[str, datetime], ActiveAlert] = {}
    open_since: dict[int, ActiveAlert] = {}
    for r in await pool.fetch(queries["alert_transitions"], exchange, start, end):
        active = AlertState(r["to_state"]).active
        if active and r["id"] not in open_since:
            key = (r["dedup_key"], r["at"])
            interval = merged.setdefault(key, ActiveAlert(
                r["dedup_key"], r["kind"], r["severity"], r["title"], r["at"], None))
            interval.orgs.add(r["org"])
            interval.alert_ids.add(r["id"])
            open_since[r["id"]] = interval
        elif not active and r["id"] in open_since:
            interval = open_since.pop(r["id"])
            if interval.active_until is None or r["at"] > interval.active_until:
                interval.active_until = r["at"]
    for interval in open_since.values():
        interval.active_until = None  # still active for at least one organisation
    alerts = [a for _, a in sorted(merged.items())
              if a.active_until is None or a.active_until > start]
    return ExchangeHistory(windows, alerts)


async def active_alarm_rules(conn: asyncpg.Connection, rule_ids: Sequence[str]) -> set[str]:
    """Which of ``rule_ids`` have an alarm active now, acknowledged or not."""
    rows = await conn.fetch(load_queries(_QUERIES)["active_alarm_rules"], list(rule_ids))
    return {r["rule_id"] for r in rows}


async def standing_alerts(pool: asyncpg.Pool, org: str, now: datetime) -> list[asyncpg.Record]:
    """``org``'s alerts active now and neither shelved nor out of service: (exchange, asset,
    severity, title with its id), for the dashboard."""
    return list(await pool.fetch(load_queries(_QUERIES)["standing_alerts"], org, now))


async def windows_in_force(pool: asyncpg.Pool, exchanges: Sequence[str],
                           now: datetime) -> list[asyncpg.Record]:
    """Maintenance windows of ``exchanges`` in force now: (exchange, ends_at, reason)."""
    return list(await pool.fetch(load_queries(_QUERIES)["windows_in_force"], list(exchanges),
                                 now))


async def deliveries_to(conn: asyncpg.Connection, org: str, status: str,
                        limit: int) -> list[asyncpg.Record]:
    """``org``'s deliveries in ``status``, newest first (GET /v1/alert-deliveries)."""
    return list(await conn.fetch(load_queries(_QUERIES)["deliveries_to"], org, status, limit))


async def deliveries_of(conn: asyncpg.Connection, alert_id: int) -> list[asyncpg.Record]:
    """An alert's deliveries, each with its attempts as JSON in ``history``."""
    return list(await conn.fetch(load_queries(_QUERIES)["deliveries_of"], alert_id))


async def supplies_lost(pool: asyncpg.Pool, org: str,
                        conditions: Collection[str]) -> dict[str, datetime]:
    """Exchange -> since when an active alert of ``org`` as recipient, in one of
    ``conditions``, names an upstream cause (the dashboard's own view)."""
    rows = await pool.fetch(load_queries(_QUERIES)["supplies_lost"], org, sorted(conditions))
    return {r["exchange"]: r["since"] for r in rows}
