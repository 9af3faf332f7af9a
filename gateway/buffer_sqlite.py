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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from gateway.buffer_chunks import MAX_READINGS, Chunk, chunks_of
from gateway.columns import ReadingColumns, SeriesRun
from gateway.drops import DropLog
from gateway.fair_shares import fair_shares
from gateway.protocols import Transaction
from heatlink.clock import Clock
from heatlink.wire import Reading, from_us, to_us

T = TypeVar("T")

SHM_BYTES = 32 * 1024  # the WAL's index: one 32 KiB block per 4096 frames of log
DROP_TO = 0.9  # drop a little past the excess, so the next add does not drop again
FITS_AGAIN_BELOW = 0.5  # a drop episode ends when the pages in use fall under this share
MEASURE_EVERY = 0.05  # share of the data budget added (estimated) between measurements


def wal_budget(max_bytes: int) -> int:
    """The WAL's share of the quota: an eighth, between 128 KiB and 8 MiB."""
    return min(max(max_bytes // 8, 128 * 1024), 8 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class InFlight:
    first: int
    last: int
    end: int
    taken: int


@dataclass(frozen=True, slots=True)
class SqliteTransaction:
    readings: Sequence[Reading]
    batch_id: str
    # series id -> (first chunk id, last chunk id, end, readings taken): a batch takes each
    # series' oldest readings, so it took all of that series' chunks from the first to
    # before the last, and the last one's up to index `end`.
    ranges: dict[int, InFlight] = field(repr=False)


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
        # Touched only on the SQLite thread: series id -> what the batch in flight took of
        # it. Its readings are each series' oldest: the chunks before `last`, and the
        # readings of `last` before `end`.
        self._in_flight: dict[int, InFlight] = {}
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
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'readings'"
                      ).fetchone() is not None:
            _chunk_old_rows(db)
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
            "SELECT series_id, SUM(count - skip) FROM chunks GROUP BY series_id").fetchall())
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
            # Columns, as the busy sources hand them over, are packed without a reading
            # made (and are not changed after they are handed over); others are copied.
            await self._run(self._add, readings if isinstance(readings, ReadingColumns)
                            else list(readings))

    def _add(self, readings: Sequence[Reading]) -> None:
        db = self.db
        # A few pages of margin: a B-tree split takes pages the estimate does not see.
        incoming_bytes = len(readings) * self._row_bytes + 4 * self._page_size
        if self._live_bytes + self._unmeasured_bytes + incoming_bytes > self.data_max_bytes:
            # Make room first: inserting and then dropping would grow the file past its share.
            self._enforce_quota(room_for_bytes=incoming_bytes)
        added_us = to_us(self._clock.now())
        counts: dict[int, int] = {}
        db.execute("BEGIN IMMEDIATE")
        try:
            chunks = self._chunks(readings)
            db.executemany(INSERT_CHUNK, ((c.series_id, c.unit, len(c), added_us, *c.columns())
                                          for c in chunks))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._reload_series()
            raise
        for c in chunks:
            counts[c.series_id] = counts.get(c.series_id, 0) + len(c)
        for sid, n in counts.items():
            self._pending[sid] = self._pending.get(sid, 0) + n
        # Measuring costs a few PRAGMAs and stats: not at every add while far from the quota.
        self._unmeasured_bytes += incoming_bytes
        if self._unmeasured_bytes >= MEASURE_EVERY * self.data_max_bytes:
            self._enforce_quota()
        else:
            self._truncate_log_over_its_share()

    def _chunks(self, readings: Sequence[Reading]) -> list[Chunk]:
        """The readings as chunks, each series' in the order they came."""
        chunks = []
        for run in ReadingColumns.of(readings).runs:
            sid = self._series_ids.get(run.series)
            if sid is None:
                sid = self._new_series(run.series)
            chunks += chunks_of(sid, run)
        return chunks

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
        runs: list[SeriesRun] = []
        ranges: dict[int, InFlight] = {}
        db = self.db
        # The batch id names the readings: where they are and what they are. Content as
        # well as place, because dropping over the quota moves readings within a chunk.
        digest = hashlib.sha256(self._generation.encode())
        for sid, n in shares.items():
            key = self._series_keys[sid]
            first = last = end = taken = 0
            rows = db.execute("SELECT id, unit, count, skip, ts_us, value, quality FROM chunks "
                              "WHERE series_id = ? ORDER BY id", (sid,))
            for cid, unit, count, skip, *columns in rows:
                take = min(count - skip, n - taken)
                if take <= 0:
                    continue
                chunk = Chunk.from_columns(sid, unit, *columns)
                stop = skip + take
                first, last, end = first or cid, cid, stop
                taken += take
                digest.update(repr((sid, cid, skip, stop, unit)).encode())
                for column in (chunk.ts_us, chunk.values, chunk.quality):
                    digest.update(column[skip:stop].tobytes())
                runs.append(chunk.run(key, skip, stop))
                if taken >= n:
                    break
            rows.close()
            if taken:
                ranges[sid] = InFlight(first, last, end, taken)
        if not runs:
            return None
        readings = ReadingColumns(runs)
        # Set here, on the SQLite thread, so that no quota check queued behind this begin
        # can drop a reading of the batch before the event loop learns about it.
        self._in_flight = ranges
        self._in_flight_rows = sum(taken.taken for taken in ranges.values())
        return SqliteTransaction(readings, f"{self._generation}-{digest.hexdigest()[:20]}",
                                 ranges)

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
            for sid, taken in tx.ranges.items():
                db.execute("DELETE FROM chunks WHERE series_id = ? AND id >= ? AND id < ?",
                           (sid, taken.first, taken.last))
                row = db.execute("SELECT count FROM chunks WHERE id = ?",
                                 (taken.last,)).fetchone()
                if row is not None and taken.end >= row[0]:
                    db.execute("DELETE FROM chunks WHERE id = ?", (taken.last,))
                elif row is not None:
                    db.execute("UPDATE chunks SET skip = ? WHERE id = ?",
                               (taken.end, taken.last))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for sid, taken in tx.ranges.items():
            self._pending[sid] = max(0, self._pending.get(sid, 0) - taken.taken)

    async def depth(self) -> int:
        return sum(self._pending.values())

    async def oldest_age_s(self) -> float | None:
        added_us = await self._run(self._oldest_added_us)
        if added_us is None:
            return None
        return max(0.0, (to_us(self._clock.now()) - added_us) / 1e6)

    def _oldest_added_us(self) -> int | None:
        row = self.db.execute("SELECT added_us FROM chunks ORDER BY id LIMIT 1").fetchone()
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
        left = n
        # series id -> (readings, first ts, last ts) dropped
        dropped: dict[int, tuple[int, int, int]] = {}
        deletes: list[tuple[int]] = []
        updates: list[tuple[int, bytes, bytes, bytes, int]] = []
        rows = db.execute("SELECT id, series_id, unit, count, skip, ts_us, value, quality "
                          "FROM chunks ORDER BY id")
        for cid, sid, unit, count, skip, *columns in rows:
            flight = self._in_flight.get(sid)
            if flight is not None and cid < flight.last:
                continue
            start = flight.end if flight is not None and cid == flight.last else skip
            take = min(count - start, left)
            if take <= 0:
                continue
            chunk = Chunk.from_columns(sid, unit, *columns)
            span = chunk.ts_us[start:start + take]
            was = dropped.get(sid, (0, min(span), max(span)))
            dropped[sid] = (was[0] + take, min(was[1], min(span)), max(was[2], max(span)))
            if start == skip and take == count - skip:  # all of it, none in flight
                deletes.append((cid,))
            else:
                rest = chunk.without(start, start + take)
                updates.append((len(rest), *rest.columns(), cid))
            left -= take
            if left <= 0:
                break
        rows.close()
        if not dropped:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM chunks WHERE id = ?", deletes)
            db.executemany("UPDATE chunks SET count = ?, ts_us = ?, value = ?, quality = ? "
                           "WHERE id = ?", updates)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for sid, (count, _, _) in dropped.items():
            self._pending[sid] = max(0, self._pending.get(sid, 0) - count)
        self.drops.dropped(sum(d[0] for d in dropped.values()),
                           {self._series_keys[sid] for sid in dropped},
                           from_us(min(d[1] for d in dropped.values())),
                           from_us(max(d[2] for d in dropped.values())))

    async def check_quota(self) -> None:
        """Enforce the quota now (it is otherwise measured every few percent of it)."""
        await self._run(self._enforce_quota)


INSERT_CHUNK = ("INSERT INTO chunks (series_id, unit, count, added_us, ts_us, value, quality) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)")


def _chunk_old_rows(db: sqlite3.Connection) -> None:
    """A buffer file written before chunks keeps one row per reading: those become chunks,
    in order, and the old table goes. The readings of a series stay in their order; a
    chunk's time added is its first reading's."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
    unit = "unit" if "unit" in columns else "NULL"  # written before readings carried units
    db.execute("BEGIN IMMEDIATE")
    try:
        current: dict[int, tuple[Chunk, int]] = {}

        def write(chunks: Iterable[tuple[Chunk, int]]) -> None:
            db.executemany(INSERT_CHUNK, ((c.series_id, c.unit, len(c), added_us, *c.columns())
                                          for c, added_us in chunks))

        # Read as written (a full buffer holds millions), while chunks are written.
        rows = db.execute(f"SELECT series_id, ts_us, value, quality, added_us, {unit} "
                          "FROM readings ORDER BY id")
        for sid, ts_us, value, quality, added_us, unit_of in rows:
            held = current.get(sid)
            if held is None or held[0].unit != unit_of or len(held[0]) >= MAX_READINGS:
                if held is not None:
                    write([held])
                held = current[sid] = (Chunk(sid, unit_of), added_us)
            held[0].ts_us.append(ts_us)
            held[0].values.append(value)
            held[0].quality.append(quality)
        rows.close()
        write(current.values())
        db.execute("DROP TABLE readings")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
