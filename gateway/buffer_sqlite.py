"""`SqliteBuffer`: the durable buffer in one SQLite file in WAL mode.

All SQLite work runs on one dedicated thread, so the event loop never blocks on a disk
write and the connection is only ever used by the thread that made it.

The quota bounds the disk: the database file, its write-ahead log and the log's index
together stay within `max_bytes`. A fixed share of the quota is the WAL's (a checkpoint
truncates it when it grows past that); the rest bounds the database's pages in use. SQLite
reuses free pages before it grows the file, so keeping the pages in use under their share
keeps the file under it too. Between two measurements the file may pass its share by one
`add`; measurements come often enough (every few percent of the share, and at every add
once it is close) that this is a small overshoot.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from gateway.drops import DropLog
from gateway.fair_shares import fair_shares
from gateway.protocols import Transaction
from heatlink.clock import Clock
from heatlink.quality import QUALITY_CODES, QUALITY_NAMES
from heatlink.wire import Reading

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)

SHM_BYTES = 32 * 1024  # the WAL's index: one 32 KiB block per 4096 frames of log
DROP_TO = 0.9  # drop a little past the excess, so the next add does not drop again
FITS_AGAIN_BELOW = 0.5  # a drop episode ends when the pages in use fall under this share
MEASURE_EVERY = 0.05  # share of the data budget added (estimated) between measurements


def wal_budget(max_bytes: int) -> int:
    """The WAL's share of the quota: an eighth, between 128 KiB and 8 MiB."""
    return min(max(max_bytes // 8, 128 * 1024), 8 * 1024 * 1024)


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
        self.wal_max_bytes = wal_budget(max_bytes)
        self.data_max_bytes = max_bytes - self.wal_max_bytes - SHM_BYTES
        if self.data_max_bytes < 64 * 1024:
            raise ValueError(f"a buffer quota of {max_bytes} bytes leaves no room for data "
                             f"next to its write-ahead log; give at least 256 KiB")
        self._clock = clock
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-buffer")
        self._db: sqlite3.Connection | None = None
        self._series_ids: dict[str, int] = {}
        self._series_keys: dict[int, str] = {}
        self._pending: dict[int, int] = {}
        self._open_tx: SqliteTransaction | None = None
        # Touched only on the SQLite thread: series id -> last row id of the batch in
        # flight. Its rows are each series' oldest, so "in flight" is "id <= last".
        self._in_flight: dict[int, int] = {}
        self._in_flight_rows = 0
        self._generation = ""
        self.drops = DropLog(f"{max_bytes} bytes on disk")
        self._page_size = 4096
        self._row_bytes = 64.0  # live bytes per buffered reading, from the last measurement
        self._live_bytes = 0  # at the last measurement
        self._unmeasured_bytes = 0.0  # estimated bytes added since

    # ---- lifecycle -------------------------------------------------------------------------

    async def open(self) -> SqliteBuffer:
        await self._run(self._open)
        return self

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
        self._page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        # A checkpoint runs once the log holds a quarter of its share, and the log is cut
        # back to half its share when it starts over: the other half is for one transaction.
        db.execute(f"PRAGMA journal_size_limit={self.wal_max_bytes // 2}")
        checkpoint_pages = max(1, self.wal_max_bytes // 4 // self._page_size)
        db.execute(f"PRAGMA wal_autocheckpoint={checkpoint_pages}")
        db.execute("PRAGMA temp_store=MEMORY")
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
        db.execute("CREATE TEMP TABLE IF NOT EXISTS in_flight "
                   "(series_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL)")
        self._db = db
        self._enforce_quota()  # the quota may have shrunk since the file was written

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
        # A few pages of margin: a B-tree split takes pages the estimate does not see.
        incoming_bytes = len(readings) * self._row_bytes + 4 * self._page_size
        if self._live_bytes + self._unmeasured_bytes + incoming_bytes > self.data_max_bytes:
            # Make room first: inserting and then dropping would grow the file past its share.
            self._enforce_quota(room_for_bytes=incoming_bytes)
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
        # Measuring costs a few PRAGMAs and stats: not at every add while far from the quota.
        self._unmeasured_bytes += incoming_bytes
        if self._unmeasured_bytes >= MEASURE_EVERY * self.data_max_bytes:
            self._enforce_quota()
        else:
            self._truncate_log_over_its_share()

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
        # Series read at the same moments (a Sparkplug message's metrics, an OPC UA publish)
        # share their timestamps: each is made once per batch.
        stamps: dict[int, datetime] = {}
        for sid, n in shares.items():
            key = self._series_keys[sid]
            rows = db.execute("SELECT id, ts_us, value, quality, unit FROM readings "
                              "WHERE series_id = ? ORDER BY id LIMIT ?", (sid, n)).fetchall()
            if not rows:
                continue
            ranges[sid] = (rows[0][0], rows[-1][0])
            readings.extend(Reading(key, stamps.get(ts_us) or stamps.setdefault(
                ts_us, EPOCH + timedelta(microseconds=ts_us)), value, QUALITY_NAMES[q], unit)
                for _, ts_us, value, q, unit in rows)
        if not readings:
            return None
        # Set here, on the SQLite thread, so that no quota check queued behind this begin
        # can drop a row of the batch before the event loop learns about it.
        self._in_flight = {sid: last for sid, (_, last) in ranges.items()}
        self._in_flight_rows = len(readings)
        digest = hashlib.sha256(repr(sorted(ranges.items())).encode()).hexdigest()[:20]
        return SqliteTransaction(readings, f"{self._generation}-{digest}", ranges)

    async def end(self, tx: Transaction, *, delivered: bool) -> None:
        if tx is not self._open_tx or not isinstance(tx, SqliteTransaction):
            raise RuntimeError("end() of a transaction that is not the open one")
        self._open_tx = None
        await self._run(self._end, tx, delivered)

    def _end(self, tx: SqliteTransaction, delivered: bool) -> None:
        try:
            if delivered:
                self._delete(tx)
        finally:
            self._in_flight = {}
            self._in_flight_rows = 0
        if self.drops.current is not None:
            self._enforce_quota()  # perhaps the episode is over

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
        return self.drops.dropped_total

    async def used_bytes(self) -> int:
        """Bytes of the buffer's files on disk: database, write-ahead log and its index."""
        return await self._run(self._disk_bytes)

    # ---- quota -----------------------------------------------------------------------------

    def _file_bytes(self, suffix: str) -> int:
        try:
            return os.stat(f"{self.path}{suffix}").st_size
        except FileNotFoundError:
            return 0

    def _disk_bytes(self) -> int:
        # The database's pages may still sit in the log; count them where they will land.
        pages = int(self.db.execute("PRAGMA page_count").fetchone()[0])
        return (max(self._file_bytes(""), pages * self._page_size)
                + self._file_bytes("-wal") + self._file_bytes("-shm"))

    def _pages_in_use_bytes(self) -> int:
        db = self.db
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * self._page_size

    def _enforce_quota(self, room_for_bytes: float = 0.0) -> None:
        """Drop the oldest readings not in flight until the pages in use, plus the room asked
        for, fit the data's share of the quota; truncate an overgrown log."""
        self._unmeasured_bytes = 0.0
        try:
            for _ in range(20):
                live = self._pages_in_use_bytes()
                self._live_bytes = live
                rows = sum(self._pending.values())
                if rows:
                    self._row_bytes = max(16.0, live / rows)
                if live + room_for_bytes <= self.data_max_bytes:
                    if live <= FITS_AGAIN_BELOW * self.data_max_bytes:
                        self.drops.fits_again()
                    return
                droppable = rows - self._in_flight_rows
                if droppable <= 0:
                    return  # only the batch in flight is left; it goes once delivered
                target = DROP_TO * self.data_max_bytes - room_for_bytes
                excess_rows = int((live - target) / self._row_bytes) + 1
                self._drop_oldest(min(droppable, excess_rows))
        finally:
            self._truncate_log_over_its_share()

    def _truncate_log_over_its_share(self) -> None:
        # A large add or drop can grow the log past its share before the automatic
        # checkpoint starts it over; give the space back now.
        if self._file_bytes("-wal") > self.wal_max_bytes:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _drop_oldest(self, n: int) -> None:
        """Delete the `n` oldest readings that are not in flight, and count them."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM temp.in_flight")
            db.executemany("INSERT INTO temp.in_flight VALUES (?, ?)", self._in_flight.items())
            row = db.execute(
                "SELECT r.id FROM readings r LEFT JOIN temp.in_flight f USING (series_id)"
                " WHERE f.last_id IS NULL OR r.id > f.last_id ORDER BY r.id LIMIT 1 OFFSET ?",
                (n - 1,)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return
            spared = ("id <= ? AND NOT EXISTS (SELECT 1 FROM temp.in_flight f"
                      " WHERE f.series_id = readings.series_id AND readings.id <= f.last_id)")
            dropped = db.execute(
                f"SELECT series_id, COUNT(*), MIN(ts_us), MAX(ts_us) FROM readings"
                f" WHERE {spared} GROUP BY series_id", (row[0],)).fetchall()
            db.execute(f"DELETE FROM readings WHERE {spared}", (row[0],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for sid, count, _, _ in dropped:
            self._pending[sid] = max(0, self._pending.get(sid, 0) - count)
        if dropped:
            self.drops.dropped(sum(d[1] for d in dropped),
                               {self._series_keys[d[0]] for d in dropped},
                               from_us(min(d[2] for d in dropped)),
                               from_us(max(d[3] for d in dropped)))

    async def check_quota(self) -> None:
        """Enforce the quota now (it is otherwise measured every few percent of it)."""
        await self._run(self._enforce_quota)
