"""SQL for the export: raw readings of several series, in pages, oldest first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import asyncpg

PAGE_ROWS = 10_000


async def readings_pages(pool: asyncpg.Pool, keys: Sequence[str], start: datetime,
                         end: datetime) -> AsyncIterator[list[asyncpg.Record]]:
    """Pages of (key, ts, value, quality) ordered by (ts, key); keyset pagination, so a
    long range never holds one connection or one huge result for its whole length."""
    after_ts: datetime | None = None
    after_key = ""
    while True:
        rows = list(await pool.fetch(
            "SELECT s.key, r.ts, r.value, r.quality FROM readings r"
            " JOIN series s ON s.id = r.series_id"
            " WHERE s.key = ANY($1::text[]) AND r.ts >= $2 AND r.ts < $3"
            "   AND ($4::timestamptz IS NULL OR (r.ts, s.key) > ($4::timestamptz, $5::text))"
            " ORDER BY r.ts, s.key LIMIT $6",
            list(keys), start, end, after_ts, after_key, PAGE_ROWS))
        if not rows:
            return
        yield rows
        if len(rows) < PAGE_ROWS:
            return
        after_ts, after_key = rows[-1]["ts"], rows[-1]["key"]
