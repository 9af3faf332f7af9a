"""`SqliteBuffer`: the durable buffer in one SQLite file in WAL mode.

All SQLite work runs on one dedicated thread, so the event loop never blocks on a disk
write and the connection is only ever used by the thread that made it.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from gateway.protocols import Transaction
from gateway.sharing import fair_shares
from heatlink.clock import Clock
from heatlink.wire import Reading

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
QUALITY_CODES = {"good": 0, "uncertain": 1, "bad": 2, "unknown": 3}
QUALITY_NAMES = {code: name for name, code in QUALITY_CODES.items()}


def to_us(ts: datetime) -> int:
    return (ts - EPOCH) // ONE_US


def from_us(ts_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=ts_us)


@dataclass(frozen=True, slots=True)
class SqliteTransaction:
    readings: Sequence[Reading]
    batch_id: str
    # series id -> (first row id, last row id): the rows taken are exactly that series'
    # rows in this range, because a batch takes each series' oldest rows.
    ranges: dict[int, tuple[int, int]] = field(repr=False)


class SqliteBuffer:
    """Implements `gateway.protocols.Buffer`."""

    def __init__(self, path: Path, clock: Clock, *, max_bytes: int = 512 * 1024 * 1024,
                 synchronous: Literal["full", "normal"] = "full") -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._clock = clock
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-buffer")
        self._db: sqlite3.Connection | None = None
        self._series_ids: dict[str, int] = {}
        self._series_keys: dict[int, str] = {}
        self._pending: dict[int, int] = {}
        self._open_tx: SqliteTransaction | None = None
        self._generation = ""
        self._dropped_total = 0
        self._rows_since_quota_check = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def open(self) -> SqliteBuffer:
        await self._run(self._open)
        return self

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
        db.executescript(resources.files("gateway").joinpath("buffer_schema.sql").read_text())
        columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
        if "unit" not in columns:  # a buffer file written before readings carried units
            db.execute("ALTER TABLE readings ADD COLUMN unit TEXT")
        row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        if row is None:
            # A fresh file gets a new generation, so batch ids never repeat across files.
            self._generation = uuid.uuid4().hex[:12]
            db.execute("INSERT INTO meta VALUES ('generation', ?)", (self._generation,))
        else:
            self._generation = row[0]
        for sid, key in db.execute("SELECT id, key FROM series"):
            self._series_ids[key] = sid
            self._series_keys[sid] = key
        self._pending = dict(db.execute(
            "SELECT series_id, COUNT(*) FROM readings GROUP BY series_id").fetchall())
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SqliteBuffer is not open")
        return self._db

    # ---- Buffer ----------------------------------------------------------------------------

    async def add(self, readings: Sequence[Reading]) -> None:
        if readings:
            await self._run(self._add, list(readings))

    def _add(self, readings: list[Reading]) -> None:
        db = self.db
        added_us = to_us(self._clock.now())
        rows = []
        counts: dict[int, int] = {}
        db.execute("BEGIN IMMEDIATE")
        try:
            for r in readings:
                sid = self._series_ids.get(r.series)
                if sid is None:
                    sid = self._new_series(r.series)
                counts[sid] = counts.get(sid, 0) + 1
                rows.append((sid, to_us(r.ts), r.value, QUALITY_CODES.get(r.quality, 2),
                             added_us, r.unit))
            db.executemany("INSERT INTO readings (series_id, ts_us, value, quality, added_us, "
                           "unit) VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._reload_series()
            raise
        for sid, n in counts.items():
            self._pending[sid] = self._pending.get(sid, 0) + n
        self._rows_since_quota_check += len(rows)
        # Measuring the file costs two PRAGMAs: do it every few thousand rows, not every add.
        if self._rows_since_quota_check >= 2000:
            self._rows_since_quota_check = 0
            self._enforce_quota()

    def _new_series(self, key: str) -> int:
        cur = self.db.execute("INSERT INTO series (key) VALUES (?)", (key,))
        sid = int(cur.lastrowid or 0)
        self._series_ids[key] = sid
        self._series_keys[sid] = key
        return sid

    def _reload_series(self) -> None:
        self._series_ids = {k: i for i, k in self.db.execute("SELECT id, key FROM series")}
        self._series_keys = {i: k for k, i in self._series_ids.items()}

    async def begin(self, max_readings: int) -> SqliteTransaction | None:
        if self._open_tx is not None:
            raise RuntimeError("a transaction is already open; end it first")
        tx = await self._run(self._begin, max_readings)
        self._open_tx = tx
        return tx

    def _begin(self, max_readings: int) -> SqliteTransaction | None:
        shares = fair_shares(self._pending, max_readings)
        if not shares:
            return None
        readings: list[Reading] = []
        ranges: dict[int, tuple[int, int]] = {}
        db = self.db
        for sid, n in shares.items():
            key = self._series_keys[sid]
            rows = db.execute("SELECT id, ts_us, value, quality, unit FROM readings "
                              "WHERE series_id = ? ORDER BY id LIMIT ?", (sid, n)).fetchall()
            if not rows:
                continue
            ranges[sid] = (rows[0][0], rows[-1][0])
            readings.extend(Reading(key, EPOCH + timedelta(microseconds=ts_us), value,
                                    QUALITY_NAMES[q], unit)
                            for _, ts_us, value, q, unit in rows)
        if not readings:
            return None
        digest = hashlib.sha256(repr(sorted(ranges.items())).encode()).hexdigest()[:20]
        return SqliteTransaction(readings, f"{self._generation}-{digest}", ranges)

    async def end(self, tx: Transaction, *, delivered: bool) -> None:
        if tx is not self._open_tx or not isinstance(tx, SqliteTransaction):
            raise RuntimeError("end() of a transaction that is not the open one")
        self._open_tx = None
        if delivered:
            await self._run(self._delete, tx)

    def _delete(self, tx: SqliteTransaction) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            deleted: dict[int, int] = {}
            for sid, (first, last) in tx.ranges.items():
                cur = db.execute("DELETE FROM readings WHERE series_id = ? AND id BETWEEN ? AND ?",
                                 (sid, first, last))
                deleted[sid] = cur.rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for sid, n in deleted.items():
            self._pending[sid] = max(0, self._pending.get(sid, 0) - n)

    async def depth(self) -> int:
        return sum(self._pending.values())

    async def oldest_age_s(self) -> float | None:
        added_us = await self._run(self._oldest_added_us)
        if added_us is None:
            return None
        return max(0.0, (to_us(self._clock.now()) - added_us) / 1e6)

    def _oldest_added_us(self) -> int | None:
        row = self.db.execute("SELECT added_us FROM readings ORDER BY id LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    @property
    def dropped_total(self) -> int:
        return self._dropped_total

    async def used_bytes(self) -> int:
        return await self._run(self._used_bytes)

    # ---- quota -----------------------------------------------------------------------------

    def _used_bytes(self) -> int:
        db = self.db
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def _enforce_quota(self) -> None:
        """Drop the oldest readings until the file's live pages fit the quota."""
        for _ in range(20):
            used = self._used_bytes()
            rows = sum(self._pending.values())
            if used <= self.max_bytes or rows == 0:
                return
            per_row = used / rows
            # Drop a little more than the excess so we do not come back after every add.
            excess_rows = int((used - self.max_bytes * 0.9) / per_row) + 1
            self._drop_oldest(min(rows, max(1, excess_rows)))

    def _drop_oldest(self, n: int) -> None:
        db = self.db
        row = db.execute("SELECT id FROM readings ORDER BY id LIMIT 1 OFFSET ?",
                         (n - 1,)).fetchone()
        if row is None:
            return
        cutoff = int(row[0])
        db.execute("BEGIN IMMEDIATE")
        try:
            counts = db.execute("SELECT series_id, COUNT(*) FROM readings WHERE id <= ? "
                                "GROUP BY series_id", (cutoff,)).fetchall()
            db.execute("DELETE FROM readings WHERE id <= ?", (cutoff,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for sid, count in counts:
            self._pending[sid] = max(0, self._pending.get(sid, 0) - count)
            self._dropped_total += count

    async def check_quota(self) -> None:
        """Enforce the quota now (it is otherwise checked every few thousand readings)."""
        await self._run(self._enforce_quota)
