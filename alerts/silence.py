"""Silence stage: whether a transition of an alert may page. Shelving and out-of-service are
an operator's choice; a maintenance window suppresses by design what it announced."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from alerts.queries import q
from alerts.store import AlertRow

# Trips seen shortly before or after a window still belong to it (clocks, ramp-down).
WINDOW_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class Silenced:
    reason: str


async def maintenance_window(conn: asyncpg.Connection, exchanges: Iterable[str],
                             at: datetime) -> int | None:
    """The announced window covering ``at`` on one of ``exchanges``, if any."""
    ids = sorted(set(exchanges))
    if not ids:
        return None
    found: int | None = await conn.fetchval(q("window_covering"), ids, at, WINDOW_GRACE)
    return found


def silenced(alert: AlertRow, now: datetime) -> Silenced | None:
    if alert.out_of_service:
        return Silenced("out of service")
    if alert.shelved_until is not None and alert.shelved_until > now:
        return Silenced(f"shelved until {alert.shelved_until.isoformat()}")
    if alert.suppressed_by is not None:
        return Silenced(f"suppressed by maintenance window {alert.suppressed_by}")
    if alert.parent_id is not None:
        return Silenced(f"grouped under root cause alert {alert.parent_id}")
    return None
