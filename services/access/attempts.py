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
from services.access.queries import q
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
            await conn.execute(q("lock_login"), username)
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
            q("recent_failures"), username, client, since, list(FAILURES))
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
        await conn.execute(
            q("record_attempt"), at, username[:200], user.org if user else None, client, outcome,
            user.id if user else None)

    async def recent(self, org: str, limit: int) -> list[asyncpg.Record]:
        """The organisation's users' attempts, newest first (unknown names have no org)."""
        return list(await self._pool.fetch(q("recent_attempts"), org, limit))
