"""Closing a month: either party asks, it closes when both have asked, or by itself N days
after the month's end. A closed revision is frozen with its content hash; a correction is
a new revision that one party opens with a reason and both close again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.accounting.months import Month
from services.accounting.statement import Standing
from services.accounting.store import Conn, audit, q

AUTOMATIC = "automatic"


@dataclass(frozen=True)
class Frozen:
    body: str
    content_sha256: str
    csv: str
    pdf: bytes


@dataclass(frozen=True)
class MonthState:
    closed: list[asyncpg.Record]  # revision, content_sha256, closed_at, closed_by, reason
    open_revision: int | None  # the revision being prepared, None when none is
    reason: str | None  # why the open revision was opened
    requests: tuple[str, ...]  # parties that asked to close the open revision

    @property
    def latest_closed(self) -> int | None:
        return self.closed[-1]["revision"] if self.closed else None

    def open_standing(self) -> Standing:
        assert self.open_revision is not None
        return Standing("open", self.open_revision, self.reason,
                        close_requested_by=self.requests)


async def state(db: Conn, exchange: str, month: Month) -> MonthState:
    closed = list(await db.fetch(q("closed_revisions"), exchange, str(month)))
    last = closed[-1]["revision"] if closed else 0
    reopened = await db.fetchrow(q("reopened"), exchange, str(month))
    if not closed:
        open_revision, reason = 1, None
    elif reopened is not None and reopened["revision"] > last:
        open_revision, reason = reopened["revision"], reopened["reason"]
    else:
        open_revision, reason = None, None
    requests: tuple[str, ...] = ()
    if open_revision is not None:
        rows = await db.fetch(q("close_requests"), exchange, str(month), open_revision)
        requests = tuple(r["org"] for r in rows)
    return MonthState(closed, open_revision, reason, requests)


def auto_close_at(month: Month, tz: str, close_after_days: int) -> datetime:
    return month.end(tz) + timedelta(days=close_after_days)


Compose = Callable[[Standing], Awaitable[Frozen]]


async def freeze(pool: asyncpg.Pool, exchange: str, month: Month, closed_by: tuple[str, ...],
                 now: datetime, compose: Compose, *, only_revision: int | None = None
                 ) -> int | None:
    """Close the open revision; returns its number, or None when there was none to close
    (or ``only_revision`` is given and another one is open)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q("lock_month"), exchange, str(month))
        found = await state(conn, exchange, month)
        revision = found.open_revision
        if revision is None or (only_revision is not None and revision != only_revision):
            return None
        frozen = await compose(Standing("closed", revision, found.reason, now, closed_by))
        await conn.execute(q("store_statement"), exchange, str(month), revision, frozen.body,
                           frozen.content_sha256, frozen.csv, frozen.pdf, now, list(closed_by),
                           found.reason)
        who = ",".join(closed_by)
        await audit(conn, now, exchange, who, who, "month_closed",
                    {"month": str(month), "revision": revision,
                     "content_sha256": frozen.content_sha256, "closed_by": list(closed_by)})
    return revision


async def request_close(pool: asyncpg.Pool, exchange: str, month: Month, revision: int,
                        org: str, actor: str, now: datetime) -> tuple[str, ...]:
    """Record ``org``'s request; the parties that have now asked."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q("lock_month"), exchange, str(month))
        await conn.execute(q("request_close"), exchange, str(month), revision, org, actor, now)
        await audit(conn, now, exchange, org, actor, "close_requested",
                    {"month": str(month), "revision": revision})
        rows = await conn.fetch(q("close_requests"), exchange, str(month), revision)
    return tuple(r["org"] for r in rows)


async def reopen(pool: asyncpg.Pool, exchange: str, month: Month, revision: int, reason: str,
                 org: str, actor: str, now: datetime) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q("lock_month"), exchange, str(month))
        await conn.execute(q("reopen"), exchange, str(month), revision, reason, actor, org, now)
        await audit(conn, now, exchange, org, actor, "revision_opened",
                    {"month": str(month), "revision": revision, "reason": reason})


async def closed_document(db: Conn, exchange: str, month: Month,
                          revision: int) -> Frozen | None:
    r = await db.fetchrow(q("closed_statement"), exchange, str(month), revision)
    if r is None:
        return None
    return Frozen(r["body"], r["content_sha256"], r["csv"], bytes(r["pdf"]))
