"""What people do to alerts: acknowledge, shelve, unshelve, take out of service. Each is
recorded as a transition with who and when; results are values for the API to map."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from alerts import lifecycle, store
from alerts.service import AlertService
from alerts.store import AlertRow


@dataclass(frozen=True)
class Done:
    alert: AlertRow


@dataclass(frozen=True)
class NotFound:
    """No such alert, or one of another organisation (the caller cannot tell which)."""


@dataclass(frozen=True)
class Unchanged:
    alert: AlertRow
    reason: str


Result = Done | NotFound | Unchanged


async def acknowledge(service: AlertService, alert_id: int, org: str, actor: str) -> Result:
    now = service.clock.now()
    async with service.pool.acquire() as conn, conn.transaction():
        alert = await store.get(conn, alert_id, for_update=True)
        if alert is None or alert.org != org:
            return NotFound()
        change = lifecycle.on_ack(alert.state)
        if change is None:
            return Unchanged(alert, f"nothing to acknowledge in state {alert.state}")
        row = await _acknowledge(conn, alert, change, now, actor)
        # One alarm per cause (ISA-18.2): the conditions grouped under it are acknowledged
        # with it, each with its own transition saying so.
        for child in await store.unacknowledged_under(conn, alert.id):
            grouped = lifecycle.on_ack(child.state)
            if grouped is not None and child.org == org:
                await _acknowledge(conn, child, grouped, now, actor,
                                   note=f"with its group (alert {alert.id})")
        return Done(row)


async def _acknowledge(conn: asyncpg.Connection, alert: AlertRow, change: lifecycle.Change,
                       now: datetime, actor: str, note: str = "") -> AlertRow:
    row = await store.set_fields(conn, alert.id, now, state=change.to_state,
                                 escalate_at=None)
    await store.transition(conn, row.id, now, actor, change.event, change.from_state,
                           change.to_state, note=note)
    return row


async def shelve(service: AlertService, alert_id: int, org: str, actor: str,
                 duration_s: float, reason: str = "") -> Result:
    now = service.clock.now()
    async with service.pool.acquire() as conn, conn.transaction():
        alert = await store.get(conn, alert_id, for_update=True)
        if alert is None or alert.org != org:
            return NotFound()
        until = now + timedelta(seconds=duration_s)
        # Shelved alerts do not escalate; the ladder restarts when the shelf ends.
        row = await store.set_fields(conn, alert.id, now, shelved_until=until,
                                     escalate_at=None)
        await store.transition(conn, row.id, now, actor, "shelved", row.state, row.state,
                               note=f"until {until.isoformat()} {reason}".strip())
        return Done(row)


async def unshelve(service: AlertService, alert_id: int, org: str, actor: str) -> Result:
    now = service.clock.now()
    queued = 0
    async with service.pool.acquire() as conn, conn.transaction():
        alert = await store.get(conn, alert_id, for_update=True)
        if alert is None or alert.org != org:
            return NotFound()
        if alert.shelved_until is None:
            return Unchanged(alert, "not shelved")
        queued = await service._unshelve(conn, alert, now, actor, "unshelved")
        row = await store.get(conn, alert.id)
    if queued:
        service.wake()
    return Done(row) if row else NotFound()


async def set_in_service(service: AlertService, alert_id: int, org: str, actor: str,
                         in_service: bool, reason: str = "") -> Result:
    now = service.clock.now()
    async with service.pool.acquire() as conn, conn.transaction():
        alert = await store.get(conn, alert_id, for_update=True)
        if alert is None or alert.org != org:
            return NotFound()
        if alert.out_of_service != (not in_service):
            row = await store.set_fields(conn, alert.id, now, out_of_service=not in_service,
                                         escalate_at=None)
            await store.transition(conn, row.id, now, actor,
                                   "returned_to_service" if in_service else "out_of_service",
                                   row.state, row.state, note=reason)
            return Done(row)
        return Unchanged(alert, "already " + ("in" if in_service else "out of") + " service")
