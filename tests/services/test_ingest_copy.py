"""The binary COPY body ingest builds with numpy stores exactly what asyncpg's own encoding
of the same readings stores: times to the microsecond either side of 2000-01-01 (where
PostgreSQL counts from) and in any offset, values of every size and sign, each quality."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import asyncpg

from services.ingest.copy_binary import pg_micros, readings_copy
from services.ingest.store import READING_COLUMNS
from services.storage.migrate import apply_migrations

OSLO = timezone(timedelta(hours=2))
TIMES = [datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
         datetime(2000, 1, 1, tzinfo=UTC),
         datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
         datetime(2026, 3, 29, 2, 30, 15, 123_456, tzinfo=OSLO),
         datetime(1900, 1, 1, tzinfo=UTC),
         datetime(2999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
VALUES = [0.0, -0.0, 12.345678901234567, -273.15, 1.7976931348623157e308, 5e-324]


async def test_binary_copy_stores_what_asyncpg_would(database_url: str) -> None:
    await apply_migrations(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        ids = [await conn.fetchval(
            "INSERT INTO series (key, asset, quantity, unit, owner) VALUES"
            " ($1, 'copy-test', 'temperature', 'degC', 'copy-test') RETURNING id", key)
            for key in ("copy-test/numpy", "copy-test/asyncpg")]
        rows = [(t, v, q) for t in TIMES for v in VALUES for q in (0, 1, 2, 3)]
        # Distinct times per row: the primary key is (series, ts).
        rows = [(t + timedelta(microseconds=n), v, q) for n, (t, v, q) in enumerate(rows)]
        body = readings_copy([ids[0]] * len(rows), [pg_micros(t) for t, _, _ in rows],
                             [v for _, v, _ in rows], [q for _, _, q in rows])
        await conn.copy_to_table("readings", source=io.BytesIO(body),
                                 columns=READING_COLUMNS, format="binary")
        await conn.copy_records_to_table("readings", records=[(ids[1], *r) for r in rows],
                                         columns=READING_COLUMNS)
        stored = {}
        for sid in ids:
            stored[sid] = [tuple(r) for r in await conn.fetch(
                "SELECT ts, value, quality FROM readings WHERE series_id = $1 ORDER BY ts",
                sid)]
    finally:
        await conn.close()
    assert len(stored[ids[0]]) == len(rows)
    assert stored[ids[0]] == stored[ids[1]]
    assert sorted((t, v, q) for t, v, q in rows) == stored[ids[0]]
