"""Writing checked readings: once per (series, source timestamp), whatever is resent.

The common case, a batch of new readings, goes straight into ``readings`` with a binary
COPY. When that meets a reading already stored (a gateway replaying after a crash), the
transaction is undone and the batch goes again through a staging table: identical
repeats are counted as duplicates, readings that disagree with what is stored are counted
as conflicts and quarantined, the rest are inserted. A batch id answered before returns
its stored answer and stores nothing. `insert_readings`, that staging path on the caller's
connection, is also how readings another domain computes come in (``derived.py``).
The statements are in queries.sql, loaded by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from heatlink.cluster.index import ClusterIndex
from heatlink.inputs import json_problem
from heatlink.sqlfile import load_queries
from heatlink.wire import IngestResult
from services.ingest.checks import CheckedBatch, SeriesLimits
from services.ingest.copy_binary import readings_copy
from services.ingest.decode import Unreadable

READING_COLUMNS = ("series_id", "ts", "value", "quality")
# One reading as the staging path takes it: series id, source time, value, quality code.
ReadingRecord = tuple[int, datetime, float, int]
_QUERIES = Path(__file__).with_name("queries.sql")


def q(name: str) -> str:
    return load_queries(_QUERIES)[name]
_INBOX = Path(__file__).with_name("inbox.sql")


@dataclass(frozen=True)
class StoreOutcome:
    result: IngestResult
    stored: list[int]  # positions (into the CheckedBatch columns) of newly stored readings


async def sync_series(pool: asyncpg.Pool, index: ClusterIndex) -> dict[str, SeriesLimits]:
    """Make the series table match the cluster file; return limits keyed by series key."""
    rows = [(s.key, s.asset, s.quantity, s.unit, s.owner, s.range_min, s.range_max, s.derived)
            for s in index.series.values()]
    async with pool.acquire() as conn:
        await conn.executemany(q("sync_series"), rows)
        stored = await conn.fetch(q("series_limits"))
    inf = float("inf")
    return {r["key"]: SeriesLimits(r["id"], r["unit"],
                                   -inf if r["range_min"] is None else r["range_min"],
                                   inf if r["range_max"] is None else r["range_max"])
            for r in stored if r["key"] in index.series}


async def replayed_result(conn: asyncpg.Connection, gateway: str,
                          batch_id: str) -> IngestResult | None:
    raw = await conn.fetchval(q("replayed_result"), gateway, batch_id)
    if raw is None:
        return None
    result = IngestResult.model_validate_json(raw)
    return result.model_copy(update={"replayed": True})


class _Clash(Exception):
    """The COPY met a reading already stored: undo the whole transaction."""


async def store_batch(pool: asyncpg.Pool, gateway: str, batch_id: str,
                      checked: CheckedBatch, raw_reading: Callable[[int], bytes],
                      *, inbox: bool = False) -> StoreOutcome:
    """Store ``checked`` once; ``raw_reading(i)`` gives the bytes reading ``i`` arrived
    as, for the quarantine of a rejected reading that jsonb cannot hold. With ``inbox``
    (a partitioned monitor) the newly stored readings also go to the monitor's inbox in
    the same transaction."""
    async with pool.acquire() as conn:
        try:
            return await _store(conn, gateway, batch_id, checked, raw_reading, copy=True,
                                inbox=inbox)
        except _Clash:
            # A replay under a new batch id (or readings another batch stored meanwhile):
            # the first transaction, claim included, is undone, and this one sorts the
            # batch out through staging. Cheaper in the common case than a savepoint
            # around every COPY (two round trips a batch).
            return await _store(conn, gateway, batch_id, checked, raw_reading, copy=False,
                                inbox=inbox)


async def _store(conn: asyncpg.Connection, gateway: str, batch_id: str,
                 checked: CheckedBatch, raw_reading: Callable[[int], bytes], *,
                 copy: bool, inbox: bool = False) -> StoreOutcome:
    # With COPY every checked reading is stored or the transaction is undone, so the answer
    # is known before: the claim carries it, one round trip less than writing it after.
    known = (IngestResult(batch_id=batch_id, accepted=len(checked), rejected=checked.rejected)
             if copy else None)
    async with conn.transaction():
        claimed = await conn.fetchval(q("claim_batch"), gateway, batch_id,
                                      "{}" if known is None else known.model_dump_json())
        if not claimed:
            previous = await replayed_result(conn, gateway, batch_id)
            assert previous is not None  # the conflicting row is committed by now
            return StoreOutcome(previous, [])
        if known is not None:
            if len(checked):
                body = readings_copy(checked.series_ids, checked.ts_us, checked.values,
                                     checked.quality)
                try:
                    # A buffer, not a file: asyncpg reads a file in a thread pool, two
                    # thread hand-offs a batch for data already in memory (and bytes it
                    # would take for a path).
                    await conn.copy_to_table("readings", source=memoryview(body),
                                             columns=READING_COLUMNS, format="binary")
                except asyncpg.UniqueViolationError:
                    raise _Clash from None
            await _quarantine(conn, gateway, batch_id, checked, [], raw_reading)
            everything = list(range(len(checked)))
            if inbox and everything:
                await conn.execute(load_queries(_INBOX)["append"], body)
            return StoreOutcome(known, everything)
        inserted = await insert_readings(conn, _records(checked))
        result = IngestResult(batch_id=batch_id, accepted=len(inserted.stored),
                              duplicates=inserted.duplicates,
                              conflicts=len(inserted.conflicts), rejected=checked.rejected)
        await _quarantine(conn, gateway, batch_id, checked, inserted.conflicts, raw_reading)
        await conn.execute(q("update_result"), gateway, batch_id, result.model_dump_json())
        if inbox and inserted.stored:
            await _to_inbox(conn, checked, inserted.stored)
    return StoreOutcome(result, inserted.stored)


async def _to_inbox(conn: asyncpg.Connection, checked: CheckedBatch, stored: list[int]) -> None:
    """The readings stored, queued for the partitioned monitor in their own transaction
    (stored and queued, or neither), as the binary COPY body of `copy_binary.py`."""
    body = readings_copy([checked.series_ids[i] for i in stored],
                         [checked.ts_us[i] for i in stored],
                         [checked.values[i] for i in stored],
                         [checked.quality[i] for i in stored])
    await conn.execute(load_queries(_INBOX)["append"], body)


def _records(checked: CheckedBatch) -> list[ReadingRecord]:
    return list(zip(checked.series_ids, checked.ts, checked.values, checked.quality,
                    strict=True))


@dataclass(frozen=True)
class Inserted:
    stored: list[int]  # positions of the readings newly stored
    duplicates: int  # already stored with the same value (or repeated in the records)
    conflicts: list[tuple[int, str]]  # (position, why): stored before with another value


async def insert_readings(conn: asyncpg.Connection, records: list[ReadingRecord]) -> Inserted:
    """Store each reading of ``records`` unless its (series, ts) is stored already: on the
    caller's connection, inside the caller's transaction, so what else that transaction
    writes commits with them or not at all. Safe to repeat: a repeat stores nothing."""
    await conn.execute(q("create_staging"))
    await conn.copy_records_to_table(
        "incoming_readings", records=[(i, *r) for i, r in enumerate(records)],
        columns=("pos", "series_id", *READING_COLUMNS[1:]))
    existing = await conn.fetch(q("staged_already_stored"))
    await conn.execute(q("insert_staged"))
    seen: set[int] = set()
    duplicates = 0
    conflicts: list[tuple[int, str]] = []
    for row in existing:
        pos = row["pos"]
        if pos in seen:
            continue
        seen.add(pos)
        if row["new_value"] == row["old_value"]:
            duplicates += 1
        else:
            conflicts.append((pos, f"already stored with value {row['old_value']:g}; "
                                   f"kept that and ignored {row['new_value']:g}"))
    return Inserted([i for i in range(len(records)) if i not in seen], duplicates, conflicts)


async def _quarantine(conn: asyncpg.Connection, gateway: str, batch_id: str,
                      checked: CheckedBatch, conflicts: list[tuple[int, str]],
                      raw_reading: Callable[[int], bytes]) -> None:
    rows: list[tuple[Any, ...]] = []
    for rejection, raw in zip(checked.rejected, checked.raw_rejected, strict=True):
        as_json, as_bytes = _quarantine_raw(raw, rejection.index, raw_reading)
        rows.append((gateway, batch_id, rejection.index, rejection.series,
                     str(rejection.reason), rejection.detail, as_json, as_bytes))
    for pos, detail in conflicts:
        raw = {"series": checked.keys[pos], "ts": checked.ts[pos].isoformat(),
               "value": checked.values[pos]}
        rows.append((gateway, batch_id, checked.indexes[pos], checked.keys[pos], "conflict",
                     detail, json.dumps(raw), None))
    if rows:
        await conn.copy_records_to_table(
            "quarantine", records=rows,
            columns=("gateway", "batch_id", "idx", "series", "reason", "detail", "raw",
                     "raw_bytes"))


def _quarantine_raw(raw: Any, index: int, raw_reading: Callable[[int], bytes]
                    ) -> tuple[str | None, bytes | None]:
    """A rejected reading kept whole: as jsonb when PostgreSQL can hold it, else (NUL, lone
    surrogates, NaN, numbers beyond range, deep nesting, JSON that cannot be read) as the
    bytes it arrived as."""
    if isinstance(raw, Unreadable):
        return None, raw.raw
    if json_problem(raw) is None:
        return json.dumps(raw), None
    return None, raw_reading(index)
