"""Login attempts: every one recorded (the audit), failures counted against a limit.

Failures count per username and per client address within a sliding window; past either
limit the attempt is refused without looking at the password (and recorded as
``rate_limited``), until the oldest failure leaves the window. Attempts at one username
queue on an advisory lock, so parallel guesses cannot slip past the count together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from heatlink.clock import Clock
from services.access.users import User

FAILURES = ("bad_password", "unknown_user", "disabled")


@dataclass(frozen=True)
class Limits:
    per_username: int
    per_client: int
    window_s: float


@dataclass(frozen=True)
class Refused:
    retry_after_s: int


class LoginAttempts:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, limits: Limits) -> None:
        self._pool = pool
        self._clock = clock
        self.limits = limits

    async def attempt(self, username: str, client: str,
                      check: Callable[[], Awaitable[tuple[str, User | None]]]
                      ) -> tuple[str, User | None] | Refused:
        """Run ``check`` unless a limit is reached, and record what came of it."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('heatlink login '"
                               " || lower($1)))", username)
            now = self._clock.now()
            wait = await self._wait_s(conn, username, client, now)
            if wait is not None:
                await self._record(conn, now, username, client, "rate_limited", None)
                return Refused(wait)
            outcome, user = await check()
            await self._record(conn, self._clock.now(), username, client, outcome, user)
            return outcome, user

    async def _wait_s(self, conn: asyncpg.Connection, username: str, client: str,
                      now: datetime) -> int | None:
        since = now - timedelta(seconds=self.limits.window_s)
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE lower(username) = lower($1)) AS by_name,"
            " min(at) FILTER (WHERE lower(username) = lower($1)) AS name_first,"
            " count(*) FILTER (WHERE client = $2) AS by_client,"
            " min(at) FILTER (WHERE client = $2) AS client_first"
            " FROM login_attempts WHERE at > $3 AND outcome = ANY($4)"
            " AND (lower(username) = lower($1) OR client = $2)",
            username, client, since, list(FAILURES))
        firsts = []
        if row["by_name"] >= self.limits.per_username:
            firsts.append(row["name_first"])
        if row["by_client"] >= self.limits.per_client:
            firsts.append(row["client_first"])
        if not firsts:
            return None
        until = max(firsts) + timedelta(seconds=self.limits.window_s)
        return max(1, int((until - now).total_seconds()) + 1)

    async def _record(self, conn: asyncpg.Connection, at: datetime, username: str,
                      client: str, outcome: str, user: User | None) -> None:
        # A refused attempt names no user yet: the row still goes to the user's org, if any.
        await conn.execute(
            "INSERT INTO login_attempts (at, username, org, client, outcome, user_id)"
            " SELECT $1, $2, coalesce($3, u.org), $4, $5, coalesce($6, u.id)"
            " FROM (SELECT 1) one LEFT JOIN users u ON u.username = $2",
            at, username[:200], user.org if user else None, client, outcome,
            user.id if user else None)

    async def recent(self, org: str, limit: int) -> list[asyncpg.Record]:
        """The organisation's users' attempts, newest first (unknown names have no org)."""
        return list(await self._pool.fetch(
            "SELECT at, username, client, outcome FROM login_attempts WHERE org = $1"
            " ORDER BY at DESC, id DESC LIMIT $2", org, limit))
