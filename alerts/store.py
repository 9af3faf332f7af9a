"""Alerts and their transitions in PostgreSQL, through queries.sql. Every function runs on the
caller's connection, inside the caller's transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from alerts.model import AlertState, Draft, Severity
from alerts.queries import q


@dataclass(frozen=True)
class AlertRow:
    id: int
    dedup_key: str
    org: str
    role: str
    kind: str
    rule_id: str | None
    series: str | None
    asset: str | None
    cause_asset: str | None
    exchange: str | None
    condition: str
    severity: Severity
    state: AlertState
    title: str
    detail: dict[str, Any]
    time_to_impact_s: float | None
    parent_id: int | None
    shelved_until: datetime | None
    out_of_service: bool
    suppressed_by: int | None
    escalation_level: int
    escalate_at: datetime | None
    raised_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        """The alert as the API and the channels show it."""
        return {"id": self.id, "org": self.org, "role": self.role, "kind": self.kind,
                "rule_id": self.rule_id, "series": self.series, "asset": self.asset,
                "cause_asset": self.cause_asset, "exchange": self.exchange,
                "condition": self.condition, "severity": str(self.severity),
                "state": str(self.state), "title": self.title, "detail": self.detail,
                "time_to_impact_s": self.time_to_impact_s, "parent_id": self.parent_id,
                "shelved_until": _iso(self.shelved_until),
                "out_of_service": self.out_of_service, "suppressed_by": self.suppressed_by,
                "escalation_level": self.escalation_level,
                "raised_at": self.raised_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _row(r: asyncpg.Record) -> AlertRow:
    values = dict(r)
    values["severity"] = Severity(values["severity"])
    values["state"] = AlertState(values["state"])
    detail = values["detail"]
    values["detail"] = json.loads(detail) if isinstance(detail, str) else detail
    values.pop("since_ts", None)
    return AlertRow(**values)


async def lock(conn: asyncpg.Connection, dedup_key: str, org: str) -> AlertRow | None:
    r = await conn.fetchrow(q("lock_alert"), dedup_key, org)
    return _row(r) if r else None


async def get(conn: asyncpg.Connection, alert_id: int, *, for_update: bool = False
              ) -> AlertRow | None:
    r = await conn.fetchrow(q("alert_for_update" if for_update else "alert"), alert_id)
    return _row(r) if r else None


async def upsert(conn: asyncpg.Connection, draft: Draft, state: AlertState, at: datetime,
                 *, parent_id: int | None, suppressed_by: int | None,
                 escalate_at: datetime | None, new_episode: bool) -> AlertRow:
    """Write the alert as ``draft`` describes it; a new episode restarts escalation."""
    r = await conn.fetchrow(
        q("upsert_alert"),
        draft.dedup_key, draft.org, str(draft.role), draft.kind, draft.rule_id, draft.series,
        draft.asset, draft.cause_asset, draft.exchange, draft.condition, str(draft.severity),
        str(state), draft.title, json.dumps(draft.detail, default=str), draft.time_to_impact_s,
        parent_id, suppressed_by, escalate_at, at, draft.since_ts, new_episode)
    return _row(r)


async def set_fields(conn: asyncpg.Connection, alert_id: int, at: datetime,
                     **fields: Any) -> AlertRow:
    # The one statement built here: it sets the columns its caller names.
    names = list(fields)
    assignments = ", ".join(f"{n} = ${i + 3}" for i, n in enumerate(names))
    r = await conn.fetchrow(
        f"UPDATE alerts SET updated_at = $2, {assignments} WHERE id = $1 RETURNING *",
        alert_id, at, *[str(v) if isinstance(v, AlertState | Severity) else v
                         for v in fields.values()])
    return _row(r)


async def transition(conn: asyncpg.Connection, alert_id: int, at: datetime, actor: str,
                     event: str, from_state: AlertState | None, to_state: AlertState,
                     note: str = "") -> int:
    transition_id: int = await conn.fetchval(
        q("add_transition"),
        alert_id, at, actor, event, str(from_state) if from_state else None, str(to_state),
        note)
    return transition_id


async def transitions(conn: asyncpg.Connection, alert_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(q("transitions"), alert_id)
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]


async def list_alerts(conn: asyncpg.Connection, org: str | None, *, active_only: bool,
                      limit: int) -> list[AlertRow]:
    rows = await conn.fetch(q("list_alerts"), org, active_only, limit)
    return [_row(r) for r in rows]


async def due_escalations(conn: asyncpg.Connection, now: datetime) -> list[AlertRow]:
    rows = await conn.fetch(q("due_escalations"), now)
    return [_row(r) for r in rows]


async def due_unshelves(conn: asyncpg.Connection, now: datetime) -> list[AlertRow]:
    rows = await conn.fetch(q("due_unshelves"), now)
    return [_row(r) for r in rows]


async def active_root(conn: asyncpg.Connection, org: str, asset: str) -> AlertRow | None:
    """The newest active alert of ``org`` caused upstream and affecting ``asset``, at the
    top of its episode (not itself grouped under another)."""
    r = await conn.fetchrow(q("active_root"), org, asset)
    return _row(r) if r else None


async def settling_root(conn: asyncpg.Connection, org: str, asset: str,
                        since: datetime) -> AlertRow | None:
    """The newest alert of ``org`` caused upstream and affecting ``asset``, at the top of
    its episode, that cleared at or after ``since``."""
    r = await conn.fetchrow(q("settling_root"), org, asset, since)
    return _row(r) if r else None


async def active_disruption(conn: asyncpg.Connection, org: str, exchange: str,
                            other_than: str) -> AlertRow | None:
    """The newest active supply-disruption alert of ``org`` on ``exchange`` at the top of
    its episode."""
    r = await conn.fetchrow(q("active_disruption"), org, exchange, other_than)
    return _row(r) if r else None


async def active_tops(conn: asyncpg.Connection, org: str, exchange: str | None,
                      asset: str | None, other_than: str) -> list[AlertRow]:
    """Active alerts of ``org`` at the top of their episode (grouped under nothing) on
    ``exchange`` or ``asset``, newest first; not maintenance notices nor restart advice."""
    rows = await conn.fetch(q("active_tops"), org, exchange, asset, other_than)
    return [_row(r) for r in rows]


async def withdrawn_since(conn: asyncpg.Connection, alert_id: int, since: datetime) -> bool:
    """Whether the alert's last transition withdrew a prediction at or after ``since``."""
    last = await conn.fetchrow(q("last_transition"), alert_id)
    return last is not None and last["event"] == "withdrawn" and last["at"] >= since


async def was_told(conn: asyncpg.Connection, alert_id: int) -> bool:
    """Whether the alert's organisation heard of it: a delivery was queued for it, or it
    took over an episode another alert paged for."""
    told: bool = await conn.fetchval(q("was_told"), alert_id)
    return told


async def unacknowledged_under(conn: asyncpg.Connection, parent_id: int) -> list[AlertRow]:
    """Alerts grouped under ``parent_id`` that still wait for an acknowledgement."""
    rows = await conn.fetch(q("unacknowledged_under"), parent_id)
    return [_row(r) for r in rows]


async def held_by(conn: asyncpg.Connection, *, parent_id: int | None,
                  window_id: int | None) -> list[AlertRow]:
    """Active alerts grouped under ``parent_id`` or suppressed by ``window_id``."""
    rows = await conn.fetch(q("held_by"), parent_id, window_id)
    return [_row(r) for r in rows]
