"""Alerts and their transitions in PostgreSQL. Every function runs on the caller's
connection, inside the caller's transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from alerts.model import AlertState, Draft, Severity


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
    r = await conn.fetchrow("SELECT * FROM alerts WHERE dedup_key = $1 AND org = $2 FOR UPDATE",
                            dedup_key, org)
    return _row(r) if r else None


async def get(conn: asyncpg.Connection, alert_id: int, *, for_update: bool = False
              ) -> AlertRow | None:
    sql = "SELECT * FROM alerts WHERE id = $1" + (" FOR UPDATE" if for_update else "")
    r = await conn.fetchrow(sql, alert_id)
    return _row(r) if r else None


async def upsert(conn: asyncpg.Connection, draft: Draft, state: AlertState, at: datetime,
                 *, parent_id: int | None, suppressed_by: int | None,
                 escalate_at: datetime | None, new_episode: bool) -> AlertRow:
    """Write the alert as ``draft`` describes it; a new episode restarts escalation."""
    r = await conn.fetchrow(
        """
        INSERT INTO alerts (dedup_key, org, role, kind, rule_id, series, asset, cause_asset,
                            exchange, condition, severity, state, title, detail,
                            time_to_impact_s, parent_id, suppressed_by, escalation_level,
                            escalate_at, raised_at, updated_at, since_ts)
        VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14::jsonb,$15,$16,$17,0,$18,$19,
                $19,$20)
        ON CONFLICT (dedup_key, org) DO UPDATE SET
            role = EXCLUDED.role, kind = EXCLUDED.kind, condition = EXCLUDED.condition,
            severity = CASE WHEN $21 THEN EXCLUDED.severity
                            WHEN alerts.severity = 'alarm' THEN 'alarm'
                            ELSE EXCLUDED.severity END,
            state = EXCLUDED.state, detail = EXCLUDED.detail,
            -- A clearing keeps the title that described the condition.
            title = CASE WHEN EXCLUDED.state IN ('cleared_unack', 'normal')
                         THEN alerts.title ELSE EXCLUDED.title END,
            time_to_impact_s = COALESCE(EXCLUDED.time_to_impact_s, alerts.time_to_impact_s),
            parent_id = EXCLUDED.parent_id, suppressed_by = EXCLUDED.suppressed_by,
            escalation_level = CASE WHEN $21 THEN 0 ELSE alerts.escalation_level END,
            escalate_at = CASE WHEN $21 THEN EXCLUDED.escalate_at
                               ELSE alerts.escalate_at END,
            raised_at = CASE WHEN $21 THEN EXCLUDED.raised_at ELSE alerts.raised_at END,
            updated_at = EXCLUDED.updated_at, since_ts = EXCLUDED.since_ts
        RETURNING *
        """,
        draft.dedup_key, draft.org, str(draft.role), draft.kind, draft.rule_id, draft.series,
        draft.asset, draft.cause_asset, draft.exchange, draft.condition, str(draft.severity),
        str(state), draft.title, json.dumps(draft.detail, default=str), draft.time_to_impact_s,
        parent_id, suppressed_by, escalate_at, at, draft.since_ts, new_episode)
    return _row(r)


async def set_fields(conn: asyncpg.Connection, alert_id: int, at: datetime,
                     **fields: Any) -> AlertRow:
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
        """INSERT INTO alert_transitions (alert_id, at, actor, event, from_state, to_state, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        alert_id, at, actor, event, str(from_state) if from_state else None, str(to_state),
        note)
    return transition_id


async def transitions(conn: asyncpg.Connection, alert_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM alert_transitions WHERE alert_id = $1 ORDER BY id",
                            alert_id)
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]


async def list_alerts(conn: asyncpg.Connection, org: str | None, *, active_only: bool,
                      limit: int) -> list[AlertRow]:
    rows = await conn.fetch(
        """SELECT * FROM alerts
           WHERE ($1::text IS NULL OR org = $1)
             AND (NOT $2 OR state <> 'normal')
           ORDER BY updated_at DESC, id DESC LIMIT $3""", org, active_only, limit)
    return [_row(r) for r in rows]


async def due_escalations(conn: asyncpg.Connection, now: datetime) -> list[AlertRow]:
    rows = await conn.fetch(
        """SELECT * FROM alerts WHERE escalate_at <= $1 ORDER BY escalate_at
           FOR UPDATE SKIP LOCKED""", now)
    return [_row(r) for r in rows]


async def due_unshelves(conn: asyncpg.Connection, now: datetime) -> list[AlertRow]:
    rows = await conn.fetch(
        """SELECT * FROM alerts WHERE shelved_until <= $1 ORDER BY shelved_until
           FOR UPDATE SKIP LOCKED""", now)
    return [_row(r) for r in rows]


async def active_root(conn: asyncpg.Connection, org: str, asset: str) -> AlertRow | None:
    """The newest active alert of ``org`` caused upstream and affecting ``asset``, at the
    top of its episode (not itself grouped under another)."""
    r = await conn.fetchrow(
        """SELECT * FROM alerts WHERE org = $1 AND asset = $2 AND role = 'recipient'
             AND cause_asset IS NOT NULL AND kind <> 'maintenance' AND parent_id IS NULL
             AND state IN ('active_unack', 'active_ack')
           ORDER BY raised_at DESC LIMIT 1""", org, asset)
    return _row(r) if r else None


async def active_disruption(conn: asyncpg.Connection, org: str, exchange: str,
                            other_than: str) -> AlertRow | None:
    """The newest active supply-disruption alert of ``org`` on ``exchange`` at the top of
    its episode."""
    r = await conn.fetchrow(
        """SELECT * FROM alerts WHERE org = $1 AND exchange = $2 AND kind = 'supply_disruption'
             AND dedup_key <> $3 AND parent_id IS NULL
             AND state IN ('active_unack', 'active_ack')
           ORDER BY raised_at DESC LIMIT 1""", org, exchange, other_than)
    return _row(r) if r else None


async def active_tops(conn: asyncpg.Connection, org: str, exchange: str | None,
                      asset: str | None, other_than: str) -> list[AlertRow]:
    """Active alerts of ``org`` at the top of their episode (grouped under nothing) on
    ``exchange`` or ``asset``, newest first; not maintenance notices nor restart advice."""
    rows = await conn.fetch(
        """SELECT * FROM alerts WHERE org = $1 AND parent_id IS NULL AND dedup_key <> $4
             AND ((exchange IS NOT NULL AND exchange = $2)
                  OR (asset IS NOT NULL AND asset = $3))
             AND kind NOT IN ('maintenance', 'restart_ramp')
             AND state IN ('active_unack', 'active_ack')
           ORDER BY raised_at DESC, id DESC""", org, exchange, asset, other_than)
    return [_row(r) for r in rows]


async def withdrawn_since(conn: asyncpg.Connection, alert_id: int, since: datetime) -> bool:
    """Whether the alert's last transition withdrew a prediction at or after ``since``."""
    last = await conn.fetchrow(
        """SELECT event, at FROM alert_transitions WHERE alert_id = $1
           ORDER BY id DESC LIMIT 1""", alert_id)
    return last is not None and last["event"] == "withdrawn" and last["at"] >= since


async def was_told(conn: asyncpg.Connection, alert_id: int) -> bool:
    """Whether the alert's organisation heard of it: a delivery was queued for it, or it
    took over an episode another alert paged for."""
    told: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE alert_id = $1)
               OR EXISTS (SELECT 1 FROM alert_transitions
                          WHERE alert_id = $1 AND event = 'took_over')""", alert_id)
    return told


async def unacknowledged_under(conn: asyncpg.Connection, parent_id: int) -> list[AlertRow]:
    """Alerts grouped under ``parent_id`` that still wait for an acknowledgement."""
    rows = await conn.fetch(
        """SELECT * FROM alerts
           WHERE parent_id = $1 AND state IN ('active_unack', 'cleared_unack')
           ORDER BY id FOR UPDATE""", parent_id)
    return [_row(r) for r in rows]


async def held_by(conn: asyncpg.Connection, *, parent_id: int | None,
                  window_id: int | None) -> list[AlertRow]:
    """Active alerts grouped under ``parent_id`` or suppressed by ``window_id``."""
    rows = await conn.fetch(
        """SELECT * FROM alerts
           WHERE (parent_id = $1 OR suppressed_by = $2)
             AND state IN ('active_unack', 'active_ack')
           ORDER BY id FOR UPDATE""", parent_id, window_id)
    return [_row(r) for r in rows]
