"""API tokens: created once and shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from datetime import datetime

import asyncpg

from heatlink.clock import Clock
from services.access.principal import DEFAULT_SCOPES, Principal, Role, Scope
from services.access.queries import q

TOKEN_PREFIX = "hl_"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, cache_ttl_s: float = 5.0) -> None:
        self._pool = pool
        self._clock = clock
        self._ttl_s = cache_ttl_s
        # hash -> (monotonic expiry of the cache entry, principal or None)
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def create(self, *, name: str, org: str, role: Role,
                     scopes: Iterable[Scope] | None = None, gateway: str | None = None,
                     expires_at: datetime | None = None) -> tuple[str, int]:
        """A new token (the only time its secret is seen) and its id."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        chosen = frozenset(scopes) if scopes is not None else DEFAULT_SCOPES[role]
        token_id: int = await self._pool.fetchval(
            q("create_token"), hash_token(token), name, org, str(role),
            sorted(str(s) for s in chosen), gateway, expires_at)
        return token, token_id

    async def revoke(self, token_id: int) -> bool:
        status: str = await self._pool.execute(q("revoke_token"), token_id, self._clock.now())
        self._cache.clear()
        return status.endswith("1")

    async def list(self, org: str | None = None) -> list[asyncpg.Record]:
        return list(await self._pool.fetch(q("list_tokens"), org))

    async def authenticate(self, token: str) -> Principal | None:
        """The token's principal, or None when it is unknown, revoked or expired."""
        digest = hash_token(token)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            principal = cached[1]
        else:
            principal = await self._lookup(digest)
            self._cache[digest] = (time.monotonic() + self._ttl_s, principal)
        return principal

    async def _lookup(self, digest: bytes) -> Principal | None:
        row = await self._pool.fetchrow(q("lookup_token"), digest, self._clock.now())
        if row is None:
            return None
        return Principal(token_id=row["id"], name=row["name"], org=row["org"],
                         role=Role(row["role"]), scopes=frozenset(Scope(s) for s in row["scopes"]),
                         gateway=row["gateway"])
