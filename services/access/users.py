"""People who log in: one organisation each, a role, an argon2 password hash.

The usernames are unique across the cluster (a login form asks for one name, not for the
company too). A disabled user keeps its row, so audit records still name it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from heatlink.clock import Clock
from services.access.passwords import hash_password, needs_rehash, verify_password, weakness
from services.access.principal import PERSON_ROLES, Role
from services.access.queries import q


class UserError(ValueError):
    """A user cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    org: str
    role: Role
    display_name: str
    disabled_at: datetime | None
    created_at: datetime


def _user(row: asyncpg.Record) -> User:
    return User(id=row["id"], username=row["username"], org=row["org"], role=Role(row["role"]),
                display_name=row["display_name"], disabled_at=row["disabled_at"],
                created_at=row["created_at"])


class UserStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def create(self, *, username: str, org: str, role: Role, password: str,
                     display_name: str = "") -> User:
        if role not in PERSON_ROLES:
            raise UserError(f"role {role} is for machines (an API token), not for a person")
        if not username or len(username) > 100 or any(c.isspace() for c in username):
            raise UserError("a username is 1 to 100 characters without spaces")
        if (why := weakness(password)) is not None:
            raise UserError(why)
        encoded = await asyncio.to_thread(hash_password, password)
        now = self._clock.now()
        try:
            row = await self._pool.fetchrow(
                q("create_user"), username, org, str(role), display_name, encoded, now)
        except asyncpg.UniqueViolationError:
            raise UserError(f"the username {username!r} is taken") from None
        return _user(row)

    async def list(self, org: str | None = None) -> list[User]:
        rows = await self._pool.fetch(q("list_users"), org)
        return [_user(r) for r in rows]

    async def disable(self, username: str) -> bool:
        """Disable the user and end its sessions at once."""
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await conn.fetchval(q("disable_user"), username, self._clock.now())
            if user_id is None:
                return False
            await conn.execute(q("end_sessions_of_user"), user_id, self._clock.now())
        return True

    async def set_password(self, username: str, password: str) -> bool:
        """A new password; every session of the user ends (a thief's too)."""
        if (why := weakness(password)) is not None:
            raise UserError(why)
        encoded = await asyncio.to_thread(hash_password, password)
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await conn.fetchval(q("set_password"), username, encoded, self._clock.now())
            if user_id is None:
                return False
            await conn.execute(q("end_sessions_of_user"), user_id, self._clock.now())
        return True

    async def check(self, username: str, password: str) -> tuple[str, User | None]:
        """(outcome, user): outcome is ok, unknown_user, bad_password or disabled."""
        row = await self._pool.fetchrow(q("user_to_check"), username)
        encoded = row["password_hash"] if row is not None else None
        matches = await asyncio.to_thread(verify_password, encoded, password)
        if row is None:
            return "unknown_user", None
        user = _user(row)
        if not matches:
            return "bad_password", user
        if user.disabled_at is not None:
            return "disabled", user
        if needs_rehash(row["password_hash"]):  # the library's parameters moved on
            await self._pool.execute(q("rehash_password"), user.id,
                                     await asyncio.to_thread(hash_password, password))
        return "ok", user
