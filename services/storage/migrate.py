"""Forward-only SQL migrations, safe to run twice and from two processes at once.

Files are ``migrations/NNNN_name.sql``, applied in number order, each in its own
transaction, under a session advisory lock so concurrent runners queue up instead of
racing. TimescaleDB features are switched on afterwards (see ``timescale.py``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.storage.queries import q

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x6865_6174  # "heat": one lock id for every heatlink migrator
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def available_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migrations share a number in {folder}: {versions}")
    return found


async def applied_versions(conn: asyncpg.Connection) -> set[int]:
    exists = await conn.fetchval(q("migrations_table_exists"))
    if not exists:
        return set()
    rows = await conn.fetch(q("applied_versions"))
    return {r["version"] for r in rows}


async def pending_migrations(conn: asyncpg.Connection) -> list[Migration]:
    done = await applied_versions(conn)
    return [m for m in available_migrations() if m.version not in done]


async def apply_migrations(url: str) -> list[Migration]:
    """Apply what is missing; returns the migrations this call applied."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(q("lock_migrations"), _LOCK_KEY)
        try:
            await conn.execute(q("create_migrations_table"))
            applied = []
            for migration in await pending_migrations(conn):
                async with conn.transaction():
                    await conn.execute(migration.path.read_text())
                    await conn.execute(q("record_migration"), migration.version, migration.name)
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied.append(migration)
            return applied
        finally:
            await conn.execute(q("unlock_migrations"), _LOCK_KEY)
    finally:
        await conn.close()
