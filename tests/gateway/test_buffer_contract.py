"""One contract, every Buffer: SqliteBuffer and the InMemoryBuffer fake."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.buffer_sqlite import SqliteBuffer
from gateway.protocols import Buffer
from gateway.testing import InMemoryBuffer
from heatlink.testing import FakeClock
from heatlink.wire import Reading

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
QUOTA_BYTES = 1024 * 1024
SMALL_QUOTA_BYTES = 256 * 1024  # the least there is: room for some thousands of readings


def readings(series: str, n: int, start: int = 0) -> list[Reading]:
    return [Reading(series, T0 + timedelta(seconds=start + i), float(start + i)) for i in range(n)]


@pytest.fixture(params=["sqlite", "memory"])
async def buffer(request: pytest.FixtureRequest, tmp_path: Path,
                 clock: FakeClock) -> AsyncIterator[Buffer]:
    made: Buffer = (await SqliteBuffer(tmp_path / "buffer.sqlite3", clock).open()
                    if request.param == "sqlite" else InMemoryBuffer(clock))
    yield made
    await made.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def test_empty_buffer_has_nothing_to_hand_out(buffer: Buffer) -> None:
    assert await buffer.begin(10) is None
    assert await buffer.depth() == 0
    assert await buffer.oldest_age_s() is None


async def test_readings_come_back_oldest_first_per_series(buffer: Buffer) -> None:
    await buffer.add(readings("a", 5) + readings("b", 3))
    await buffer.add(readings("a", 2, start=5))
    tx = await buffer.begin(100)
    assert tx is not None
    a = [r for r in tx.readings if r.series == "a"]
    assert [r.value for r in a] == [0, 1, 2, 3, 4, 5, 6]
    assert a[0].ts == T0
    assert a[0].ts.tzinfo is not None
    assert len(tx.readings) == 10


async def test_nothing_is_removed_before_end_and_rollback_hands_out_the_same(
        buffer: Buffer) -> None:
    await buffer.add(readings("a", 4))
    tx = await buffer.begin(3)
    assert tx is not None
    assert await buffer.depth() == 4
    await buffer.end(tx, delivered=False)
    again = await buffer.begin(3)
    assert again is not None
    assert list(again.readings) == list(tx.readings)
    assert again.batch_id == tx.batch_id  # same rows, same batch id: resends are replays
    await buffer.end(again, delivered=True)
    assert await buffer.depth() == 1
    rest = await buffer.begin(10)
    assert rest is not None
    assert [r.value for r in rest.readings] == [3.0]
    assert rest.batch_id != tx.batch_id


async def test_readings_added_during_a_transaction_are_kept(buffer: Buffer) -> None:
    await buffer.add(readings("a", 2))
    tx = await buffer.begin(10)
    assert tx is not None
    await buffer.add(readings("a", 2, start=2))
    await buffer.end(tx, delivered=True)
    assert await buffer.depth() == 2
    nxt = await buffer.begin(10)
    assert nxt is not None
    assert [r.value for r in nxt.readings] == [2.0, 3.0]


async def test_one_transaction_at_a_time(buffer: Buffer) -> None:
    await buffer.add(readings("a", 2))
    assert await buffer.begin(1) is not None
    with pytest.raises(RuntimeError):
        await buffer.begin(1)


async def test_a_backlog_does_not_starve_other_series(buffer: Buffer) -> None:
    await buffer.add(readings("backlog", 10_000))
    await buffer.add(readings("live", 3))
    tx = await buffer.begin(100)
    assert tx is not None
    assert len(tx.readings) == 100
    assert [r.value for r in tx.readings if r.series == "live"] == [0.0, 1.0, 2.0]


async def test_oldest_age_follows_the_clock(buffer: Buffer, clock: FakeClock) -> None:
    await buffer.add(readings("a", 1))
    clock.advance(30)
    await buffer.add(readings("a", 1, start=1))
    assert await buffer.oldest_age_s() == pytest.approx(30)


async def test_quality_and_values_survive(buffer: Buffer) -> None:
    await buffer.add([Reading("q", T0, -1.5, "uncertain"), Reading("q", T0 + timedelta(1), 2e9,
                                                                   "bad")])
    tx = await buffer.begin(10)
    assert tx is not None
    assert [(r.value, r.quality) for r in tx.readings] == [(-1.5, "uncertain"), (2e9, "bad")]


async def test_a_series_whose_unit_changes_keeps_its_order_and_each_reading_its_unit(
        buffer: Buffer) -> None:
    # A rebirth may change a metric's unit between two messages of one batch.
    units = [None, "l/s", "l/s", None, "m3/h"]
    await buffer.add([Reading("f", T0 + timedelta(seconds=i), float(i), "good", unit)
                      for i, unit in enumerate(units)] + readings("g", 2))
    tx = await buffer.begin(100)
    assert tx is not None
    assert [(r.value, r.unit) for r in tx.readings if r.series == "f"] == \
        [(float(i), unit) for i, unit in enumerate(units)]


# ---- SqliteBuffer only: durability and the disk quota -------------------------------------


async def test_sqlite_buffer_survives_reopening(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "b.sqlite3"
    first = await SqliteBuffer(path, clock).open()
    await first.add(readings("a", 3))
    tx = await first.begin(10)
    assert tx is not None
    await first.close()  # as if the process died with the transaction open
    second = await SqliteBuffer(path, clock).open()
    again = await second.begin(10)
    assert again is not None
    assert list(again.readings) == list(tx.readings)
    assert again.batch_id == tx.batch_id
    await second.close()


# The buffer file of a gateway from before readings were stored in chunks: one row each.
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, series_id INTEGER NOT NULL,
    ts_us INTEGER NOT NULL, value REAL NOT NULL, quality INTEGER NOT NULL,
    added_us INTEGER NOT NULL, unit TEXT);
CREATE INDEX readings_by_series ON readings (series_id, id);
INSERT INTO meta VALUES ('generation', 'old0');
INSERT INTO series VALUES (1, 'a'), (2, 'b');
"""


async def test_a_buffer_file_of_an_older_gateway_hands_out_its_readings_in_order(
        tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "b.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    t0_us = int(T0.timestamp() * 1_000_000)
    db.executemany("INSERT INTO readings (series_id, ts_us, value, quality, added_us, unit) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   [(1 + i % 2, t0_us + i * 1_000_000, float(i), i % 4, t0_us,
                     "l/s" if i in (6, 8) else None) for i in range(10)])
    db.commit()
    db.close()
    buffer = await SqliteBuffer(path, clock).open()
    assert await buffer.depth() == 10
    tx = await buffer.begin(100)
    assert tx is not None
    a = [r for r in tx.readings if r.series == "a"]
    assert [r.value for r in a] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert [r.unit for r in a] == [None, None, None, "l/s", "l/s"]
    assert [r.quality for r in a] == ["good", "bad", "good", "bad", "good"]
    assert a[1].ts == T0 + timedelta(seconds=2)
    assert [r.value for r in tx.readings if r.series == "b"] == [1.0, 3.0, 5.0, 7.0, 9.0]
    await buffer.end(tx, delivered=True)
    assert await buffer.depth() == 0
    await buffer.close()


async def test_sqlite_quota_drops_the_oldest_and_counts_them(tmp_path: Path,
                                                              clock: FakeClock) -> None:
    buffer = await SqliteBuffer(tmp_path / "b.sqlite3", clock, max_bytes=QUOTA_BYTES).open()
    added = 200_000  # several times what the quota holds (about 17 bytes a reading)
    for chunk in range(added // 2000):
        await buffer.add(readings("a", 2000, start=chunk * 2000))
    await buffer.check_quota()
    assert buffer.dropped_total > 0
    assert await buffer.used_bytes() <= QUOTA_BYTES
    depth = await buffer.depth()
    assert depth + buffer.dropped_total == added
    tx = await buffer.begin(1)
    assert tx is not None
    assert tx.readings[0].value == added - depth  # the newest readings were kept
    await buffer.close()


def files_on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def test_sqlite_quota_bounds_the_files_on_disk_with_the_wal(tmp_path: Path,
                                                                  clock: FakeClock) -> None:
    """The quota is a disk bound: database, write-ahead log and its index together, after
    every add, through a long outage (adds of a source's usual size)."""
    path = tmp_path / "b.sqlite3"
    buffer = await SqliteBuffer(path, clock, max_bytes=QUOTA_BYTES).open()
    largest = 0
    for chunk in range(600):
        await buffer.add(readings(f"s{chunk % 7}", 100, start=chunk * 100))
        on_disk = files_on_disk(path)
        largest = max(largest, on_disk)
        # Pages still in the log are counted where they will land, as well.
        assert on_disk <= await buffer.used_bytes() <= QUOTA_BYTES
    assert buffer.dropped_total > 0
    assert largest <= QUOTA_BYTES
    assert (tmp_path / "b.sqlite3-wal").exists()  # in WAL mode, counted above
    await buffer.close()


# ---- both buffers: the quota tells the truth ------------------------------------------------


@pytest.fixture(params=["sqlite", "memory"])
async def small_buffer(request: pytest.FixtureRequest, tmp_path: Path,
                       clock: FakeClock) -> AsyncIterator[SqliteBuffer | InMemoryBuffer]:
    """A buffer whose quota holds some thousands of readings."""
    made = (await SqliteBuffer(tmp_path / "buffer.sqlite3", clock,
                               max_bytes=SMALL_QUOTA_BYTES).open()
            if request.param == "sqlite" else InMemoryBuffer(clock, max_readings=5000))
    yield made
    await made.close()


async def overfill(buffer: SqliteBuffer | InMemoryBuffer, series: list[str], start: int,
                   chunks: int = 60) -> int:
    """Add far more than the quota holds, in a source's usual sizes; returns how many."""
    for chunk in range(chunks):
        for key in series:
            await buffer.add(readings(key, 250, start=start + chunk * 250))
    if isinstance(buffer, SqliteBuffer):
        await buffer.check_quota()
    return chunks * 250 * len(series)


async def test_a_batch_in_flight_is_never_dropped_nor_counted(
        small_buffer: SqliteBuffer | InMemoryBuffer) -> None:
    buffer = small_buffer
    await buffer.add(readings("a", 100) + readings("b", 100))
    tx = await buffer.begin(120)
    assert tx is not None
    added = 200 + await overfill(buffer, ["a", "b"], start=100)
    assert buffer.dropped_total > 0
    # Drops spared the batch in flight, so delivering it removes exactly its readings.
    await buffer.end(tx, delivered=True)
    assert await buffer.depth() + buffer.dropped_total + len(tx.readings) == added
    # What was dropped is the oldest of what was not in flight: the first reading left
    # of each series follows a gap that begins right after the batch.
    rest = await buffer.begin(10)
    assert rest is not None
    for key in ("a", "b"):
        sent = [r.value for r in tx.readings if r.series == key]
        first_left = min(r.value for r in rest.readings if r.series == key)
        assert first_left > max(sent) + 1


async def test_a_rolled_back_batch_in_flight_comes_back_whole_after_drops(
        small_buffer: SqliteBuffer | InMemoryBuffer) -> None:
    buffer = small_buffer
    await buffer.add(readings("a", 50))
    tx = await buffer.begin(50)
    assert tx is not None
    await overfill(buffer, ["a"], start=50)
    await buffer.end(tx, delivered=False)
    again = await buffer.begin(50)
    assert again is not None
    assert list(again.readings) == list(tx.readings)
    assert again.batch_id == tx.batch_id


async def test_drops_are_logged_once_per_episode_with_counts_and_time_range(
        small_buffer: SqliteBuffer | InMemoryBuffer, caplog: pytest.LogCaptureFixture) -> None:
    buffer = small_buffer
    caplog.set_level(logging.WARNING, logger="gateway.buffer")
    added = await overfill(buffer, ["a", "b", "c"], start=0)
    began = [r.getMessage() for r in caplog.records if "over its quota" in r.getMessage()]
    assert len(began) == 1  # many drops, one line
    assert "series" in began[0]
    assert T0.isoformat() in began[0]  # the oldest source time dropped
    # The service is back: the backlog drains, the buffer fits again, the episode ends.
    while (tx := await buffer.begin(1000)) is not None:
        await buffer.end(tx, delivered=True)
    ended = [r.getMessage() for r in caplog.records if "fits its quota again" in r.getMessage()]
    assert len(ended) == 1
    dropped = buffer.dropped_total
    assert 0 < dropped < added
    assert f"dropped {dropped} readings of 3 series, source times {T0.isoformat()} to " \
        in ended[0]
    # A second outage is a second episode, told again.
    await overfill(buffer, ["a", "b"], start=1_000_000)
    began = [r.getMessage() for r in caplog.records if "over its quota" in r.getMessage()]
    assert len(began) == 2
    assert (T0 + timedelta(seconds=1_000_000)).isoformat() in began[1]
