"""Browser sessions of logged-in people.

The cookie carries a random secret; the database keeps its SHA-256 only. A session ends
at ``expires_at`` (absolute), after ``idle_s`` without a request, when its user logs out,
is disabled or gets a new password. Each session has its own CSRF token, which the page
reads from ``GET /v1/session`` and sends back in ``X-CSRF-Token`` on every change.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from heatlink.clock import Clock
from services.access.principal import DEFAULT_SCOPES, Principal, Role
from services.access.queries import q
from services.access.users import User

SESSION_PREFIX = "hs_"
TOUCH_EVERY_S = 60.0  # last_seen_at is written at most this often per session
MAX_CACHED = 10_000


@dataclass(frozen=True)
class Session:
    id: int
    principal: Principal
    csrf_token: str
    expires_at: datetime


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, *, ttl_s: float, idle_s: float,
                 cache_ttl_s: float = 5.0) -> None:
        self._pool = pool
        self._clock = clock
        self.ttl_s = ttl_s
        self.idle_s = idle_s
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[bytes, tuple[float, Session | None]] = {}

    async def open(self, user: User, client: str) -> tuple[str, Session]:
        """A new session for ``user``: the cookie's secret (seen only now) and the session."""
        secret = SESSION_PREFIX + secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires_at = now + timedelta(seconds=self.ttl_s)
        session_id: int = await self._pool.fetchval(
            q("open_session"), _digest(secret), csrf, user.id, now, expires_at, client)
        return secret, Session(session_id, _principal(user.id, user.username, user.org,
                                                       user.role), csrf, expires_at)

    async def close(self, secret: str) -> None:
        await self._pool.execute(q("close_session"), _digest(secret), self._clock.now())
        self._cache.pop(_digest(secret), None)

    async def authenticate(self, secret: str) -> Session | None:
        """The live session behind a cookie's secret, or None."""
        digest = _digest(secret)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        now = self._clock.now()
        row = await self._pool.fetchrow(
            q("live_session"), digest, now, now - timedelta(seconds=self.idle_s))
        session = None
        if row is not None:
            session = Session(row["id"], _principal(row["user_id"], row["username"],
                                                    row["org"], Role(row["role"])),
                              row["csrf_token"], row["expires_at"])
            if (now - row["last_seen_at"]).total_seconds() >= TOUCH_EVERY_S:
                await self._pool.execute(q("touch_session"), row["id"], now)
        if session is not None:
            # Only live sessions are kept: a client sending made-up cookies must not fill
            # the memory (it costs a lookup each, as an unknown token does).
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + self._cache_ttl_s, session)
        return session


def _principal(user_id: int, username: str, org: str, role: Role) -> Principal:
    return Principal(token_id=0, name=username, org=org, role=role,
                     scopes=DEFAULT_SCOPES[role], user_id=user_id)
