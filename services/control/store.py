"""SQL for control: ramps, commands, the audit log and protective-action requests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from heatlink.commands import CommandResult, SetpointCommand


async def insert_ramp(conn: asyncpg.Connection, *, point: str, owner: str, requested_by: str,
                      start_value: float | None, target: float, rate_per_h: float,
                      steps: int, orgs: Sequence[str], at: datetime) -> int:
    ramp_id: int = await conn.fetchval(
        """INSERT INTO control_ramps (point, owner, requested_by, start_value, target,
               rate_per_h, status, steps, orgs, requested_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $9) RETURNING id""",
        point, owner, requested_by, start_value, target, rate_per_h, steps, list(orgs), at)
    return ramp_id


async def update_ramp(conn: asyncpg.Connection, ramp_id: int, *, status: str,
                      reasons: Sequence[str], confirmed_value: float | None, step: int,
                      steps: int, at: datetime) -> None:
    await conn.execute(
        """UPDATE control_ramps SET status = $2, reasons = $3::jsonb, confirmed_value = $4,
               step = $5, steps = $6, updated_at = $7 WHERE id = $1""",
        ramp_id, status, json.dumps(list(reasons)), confirmed_value, step, steps, at)


async def insert_command(conn: asyncpg.Connection, command: SetpointCommand,
                         gateway: str) -> int:
    """Store a command and give it the next number of the one sequence all commands share
    (rising per gateway too); the gateway refuses any number not above the last it took."""
    seq: int = await conn.fetchval(
        """INSERT INTO control_commands (id, ramp_id, point, gateway, value, issued_at,
               expires_at, status, seq)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'sent', nextval('control_command_seq'))
           RETURNING seq""",
        command.id, command.ramp_id, command.point, gateway, command.value, command.issued_at,
        command.expires_at)
    return seq


async def last_readback(conn: asyncpg.Connection,
                        point: str) -> tuple[float, datetime] | None:
    """The value a gateway last read back after applying a command to ``point``, and when
    its answer arrived."""
    row = await conn.fetchrow(
        """SELECT readback, answered_at FROM control_commands
           WHERE point = $1 AND gateway_status = 'applied' AND readback IS NOT NULL
           ORDER BY answered_at DESC LIMIT 1""", point)
    return (row["readback"], row["answered_at"]) if row is not None else None


async def latest_good(conn: asyncpg.Connection, series: str) -> tuple[float, datetime] | None:
    """The newest reading of ``series`` of good quality (0), and its source timestamp."""
    row = await conn.fetchrow(
        """SELECT r.value, r.ts FROM readings r JOIN series s ON s.id = r.series_id
           WHERE s.key = $1 AND r.quality = 0 ORDER BY r.ts DESC LIMIT 1""", series)
    return (row["value"], row["ts"]) if row is not None else None


async def command_expired(conn: asyncpg.Connection, command_id: str) -> None:
    """Given up on here; a later answer from the gateway is kept in gateway_status."""
    await conn.execute(
        "UPDATE control_commands SET status = 'expired' WHERE id = $1 AND status = 'sent'",
        command_id)


async def command_answered(conn: asyncpg.Connection, result: CommandResult,
                           at: datetime) -> None:
    # A command this side already expired stays expired, whatever arrives later; the
    # gateway's first answer stands (a later one answers a copy: a replay it refused).
    await conn.execute(
        """UPDATE control_commands SET gateway_status = $2, readback = $3, answered_at = $4,
               detail = $5, status = CASE WHEN status = 'sent' THEN $2 ELSE status END
           WHERE id = $1 AND gateway = $6 AND gateway_status IS NULL""",
        result.command_id, result.status, result.readback, at, result.detail, result.gateway)


async def audit(conn: asyncpg.Connection, *, at: datetime, kind: str, actor: str,
                orgs: Sequence[str], point: str | None = None, ramp_id: int | None = None,
                request_id: int | None = None, command_id: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        """INSERT INTO control_audit (at, kind, actor, point, ramp_id, request_id, command_id,
               orgs, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
        at, kind, actor, point, ramp_id, request_id, command_id, sorted(set(orgs)),
        json.dumps(detail or {}, default=str))


def _row(record: asyncpg.Record, json_keys: tuple[str, ...] = ("detail", "reasons")
         ) -> dict[str, Any]:
    """A record as JSON-ready values; ``json_keys`` are jsonb columns (asyncpg gives text)."""
    out = dict(record)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif key in json_keys and isinstance(value, str):
            out[key] = json.loads(value)
    return out


async def audit_log(conn: asyncpg.Connection, org: str | None, *, ramp_id: int | None,
                    point: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; ``org`` None is the whole cluster (the facilitator)."""
    rows = await conn.fetch(
        """SELECT id, at, kind, actor, point, ramp_id, request_id, command_id, detail
           FROM control_audit
           WHERE ($1::text IS NULL OR $1 = ANY(orgs)) AND ($2::bigint IS NULL OR ramp_id = $2)
             AND ($3::text IS NULL OR point = $3)
           ORDER BY id DESC LIMIT $4""", org, ramp_id, point, limit)
    return [_row(r) for r in rows]


async def get_ramp(conn: asyncpg.Connection, ramp_id: int,
                   org: str | None) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT id, point, owner, requested_by, start_value, target, rate_per_h, status,
               reasons, confirmed_value, step, steps, requested_at, updated_at
           FROM control_ramps WHERE id = $1 AND ($2::text IS NULL OR $2 = ANY(orgs))""",
        ramp_id, org)
    if row is None:
        return None
    ramp = _row(row)
    commands = await conn.fetch(
        """SELECT id, seq, value, issued_at, expires_at, status, gateway_status, readback,
               answered_at, detail FROM control_commands WHERE ramp_id = $1
           ORDER BY issued_at, id""", ramp_id)
    ramp["commands"] = [_row(c, ()) for c in commands]
    return ramp


async def list_ramps(conn: asyncpg.Connection, org: str | None,
                     limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, point, owner, requested_by, start_value, target, rate_per_h, status,
               reasons, confirmed_value, step, steps, requested_at, updated_at
           FROM control_ramps WHERE ($1::text IS NULL OR $1 = ANY(orgs))
           ORDER BY id DESC LIMIT $2""", org, limit)
    return [_row(r) for r in rows]


async def insert_request(conn: asyncpg.Connection, *, exchange: str, from_org: str,
                         to_org: str, action: str, reason: str, requested_by: str,
                         at: datetime) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO control_requests (exchange, from_org, to_org, action, reason, status,
               requested_by, requested_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)
           RETURNING *""", exchange, from_org, to_org, action, reason, requested_by, at)
    return _row(row)


async def answer_request(conn: asyncpg.Connection, request_id: int, *, status: str,
                         by: str, note: str, at: datetime) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """UPDATE control_requests SET status = $2, answered_by = $3, answer_note = $4,
               answered_at = $5 WHERE id = $1 AND status = 'open' RETURNING *""",
        request_id, status, by, note, at)
    return _row(row) if row is not None else None


async def get_request(conn: asyncpg.Connection, request_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM control_requests WHERE id = $1", request_id)
    return _row(row) if row is not None else None


async def list_requests(conn: asyncpg.Connection, org: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT * FROM control_requests WHERE $1::text IS NULL OR $1 IN (from_org, to_org)
           ORDER BY id DESC LIMIT 200""", org)
    return [_row(r) for r in rows]


async def fresh_series(conn: asyncpg.Connection, keys: Sequence[str],
                       since: datetime) -> set[str]:
    """Which of ``keys`` have a reading at or after ``since``."""
    rows = await conn.fetch(
        """SELECT s.key FROM series s WHERE s.key = ANY($1::text[]) AND EXISTS (
               SELECT 1 FROM readings r WHERE r.series_id = s.id AND r.ts >= $2)""",
        list(keys), since)
    return {r["key"] for r in rows}


async def active_alarms(conn: asyncpg.Connection, rule_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        """SELECT DISTINCT rule_id FROM alerts WHERE rule_id = ANY($1::text[])
             AND severity = 'alarm' AND state IN ('active_unack', 'active_ack')""",
        list(rule_ids))
    return {r["rule_id"] for r in rows}
