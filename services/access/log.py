"""The access log: who read (or was refused) another organisation's series, through which
door. The access domain owns the table; every door records here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import asyncpg

from services.access.queries import q


async def log_access(pool: asyncpg.Pool, reader_org: str,
                     reads: Iterable[tuple[str, str]], door: str) -> None:
    """Record reads of other organisations' series: (owner org, series key)."""
    rows = [(reader_org, owner, key, door) for owner, key in reads if owner != reader_org]
    if rows:
        await pool.executemany(q("log_access"), rows)


async def log_denied(pool: asyncpg.Pool, reader_org: str, refused: Iterable[tuple[str, str]],
                     door: str, reason: str = "not shared with the reader") -> None:
    """Record refused reads of other organisations' series: (owner org, series key). The
    caller got the same 404 as for a series that does not exist; the owner sees why."""
    rows = [(reader_org, owner, key, door, reason) for owner, key in refused
            if owner != reader_org]
    if rows:
        await pool.executemany(q("log_denied"), rows)


async def reads_of(pool: asyncpg.Pool, owner_org: str, since: datetime | None,
                   limit: int) -> list[asyncpg.Record]:
    """Reads of ``owner_org``'s series by others, and refused attempts, newest first."""
    return list(await pool.fetch(q("reads_of"), owner_org, since, limit))
