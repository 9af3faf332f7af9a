"""Control's tables: ramps, commands, the audit log and protective-action requests; the
queries are in queries.sql, loaded by name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from heatlink.commands import CommandResult, SetpointCommand
from heatlink.sqlfile import load_queries

_QUERIES = Path(__file__).with_name("queries.sql")


def q(name: str) -> str:
    return load_queries(_QUERIES)[name]


class RampLost(RuntimeError):
    """The ramp is no longer this replica's: another took it over or cancelled it."""


async def insert_ramp(conn: asyncpg.Connection, *, point: str, owner: str, requested_by: str,
                      start_value: float | None, target: float, rate_per_h: float,
                      steps: int, orgs: Sequence[str], at: datetime, holder: str,
                      lease_s: float) -> int:
    ramp_id: int = await conn.fetchval(
        q("insert_ramp"), point, owner, requested_by, start_value, target, rate_per_h, steps,
        list(orgs), at, holder, lease_s)
    return ramp_id


async def update_ramp(conn: asyncpg.Connection, ramp_id: int, *, status: str,
                      reasons: Sequence[str], confirmed_value: float | None, step: int,
                      steps: int, at: datetime, holder: str) -> None:
    """Write the ramp's state if ``holder`` still holds it live; else raise ``RampLost``
    (the caller's transaction, with any command in it, rolls back)."""
    if await conn.fetchval(
            q("update_ramp"), ramp_id, status, json.dumps(list(reasons)), confirmed_value,
            step, steps, at, holder) is None:
        raise RampLost(ramp_id)


async def renew_leases(conn: asyncpg.Connection, ramp_ids: Sequence[int], holder: str,
                       lease_s: float) -> set[int]:
    """The ramps among ``ramp_ids`` still live and held by ``holder``, leases renewed."""
    rows = await conn.fetch(q("renew_leases"), list(ramp_ids), holder, lease_s)
    return {r["id"] for r in rows}


async def take_over_lapsed(conn: asyncpg.Connection, holder: str, lease_s: float,
                           at: datetime) -> list[asyncpg.Record]:
    """Live ramps whose lease ran out, now held (status 'held') by ``holder``."""
    return list(await conn.fetch(q("take_over_lapsed"), holder, lease_s, at))


async def take_over_held(conn: asyncpg.Connection, ramp_id: int, holder: str, lease_s: float,
                         at: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(q("take_over_held"), ramp_id, holder, lease_s, at)


async def cancel_held_elsewhere(conn: asyncpg.Connection, ramp_ids: Sequence[int],
                                holder: str, at: datetime, why: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(q("cancel_held_elsewhere"), list(ramp_ids), holder, at, why))


async def live_on_point(conn: asyncpg.Connection, point: str) -> list[int]:
    return [r["id"] for r in await conn.fetch(q("live_on_point"), point)]


async def ramp_holder(conn: asyncpg.Connection, ramp_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(q("ramp_holder"), ramp_id)


async def last_plan_no(conn: asyncpg.Connection, ramp_id: int) -> int:
    n: int = await conn.fetchval(q("last_plan_no"), ramp_id)
    return n


async def insert_command(conn: asyncpg.Connection, command: SetpointCommand,
                         gateway: str) -> int:
    """Store a command and give it the next number of the one sequence all commands share
    (rising per gateway too); the gateway refuses any number not above the last it took."""
    seq: int = await conn.fetchval(
        q("insert_command"), command.id, command.ramp_id, command.point, gateway, command.value,
        command.issued_at, command.expires_at)
    return seq


async def last_readback(conn: asyncpg.Connection,
                        point: str) -> tuple[float, datetime] | None:
    """The value a gateway last read back after applying a command to ``point``, and when
    its answer arrived."""
    row = await conn.fetchrow(q("last_readback"), point)
    return (row["readback"], row["answered_at"]) if row is not None else None


async def command_expired(conn: asyncpg.Connection, command_id: str) -> None:
    """Given up on here; a later answer from the gateway is kept in gateway_status."""
    await conn.execute(q("command_expired"), command_id)


async def command_answered(conn: asyncpg.Connection, result: CommandResult,
                           at: datetime) -> bool:
    """True when this was the command's first answer (every replica hears every result;
    the first to store it is the one that records it)."""
    # A command this side already expired stays expired, whatever arrives later; the
    # gateway's first answer stands (a later one answers a copy: a replay it refused).
    first = await conn.fetchval(
        q("command_answered"), result.command_id, result.status, result.readback, at,
        result.detail, result.gateway)
    return first is not None


async def audit(conn: asyncpg.Connection, *, at: datetime, kind: str, actor: str,
                orgs: Sequence[str], point: str | None = None, ramp_id: int | None = None,
                request_id: int | None = None, command_id: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        q("audit"), at, kind, actor, point, ramp_id, request_id, command_id, sorted(set(orgs)),
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
    rows = await conn.fetch(q("audit_log"), org, ramp_id, point, limit)
    return [_row(r) for r in rows]


async def get_ramp(conn: asyncpg.Connection, ramp_id: int,
                   org: str | None) -> dict[str, Any] | None:
    row = await conn.fetchrow(q("get_ramp"), ramp_id, org)
    if row is None:
        return None
    ramp = _row(row)
    commands = await conn.fetch(q("ramp_commands"), ramp_id)
    ramp["commands"] = [_row(c, ()) for c in commands]
    return ramp


async def list_ramps(conn: asyncpg.Connection, org: str | None,
                     limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(q("list_ramps"), org, limit)
    return [_row(r) for r in rows]


async def insert_request(conn: asyncpg.Connection, *, exchange: str, from_org: str,
                         to_org: str, action: str, reason: str, requested_by: str,
                         at: datetime) -> dict[str, Any]:
    row = await conn.fetchrow(q("insert_request"), exchange, from_org, to_org, action, reason,
                              requested_by, at)
    return _row(row)


async def answer_request(conn: asyncpg.Connection, request_id: int, *, status: str,
                         by: str, note: str, at: datetime) -> dict[str, Any] | None:
    row = await conn.fetchrow(q("answer_request"), request_id, status, by, note, at)
    return _row(row) if row is not None else None


async def get_request(conn: asyncpg.Connection, request_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(q("get_request"), request_id)
    return _row(row) if row is not None else None


async def list_requests(conn: asyncpg.Connection, org: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(q("list_requests"), org)
    return [_row(r) for r in rows]

