"""The uplink writes a batch as `heatlink.wire.encode_batch` defines it: the same document,
every value the same float (orjson writes 1e-9 where the json module writes 1e-09); and as
runs, which the service lays out as the same readings."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gateway.buffer_sqlite import SqliteBuffer
from gateway.columns import ReadingColumns
from gateway.uplink_http import HttpUplink
from heatlink.testing import FakeClock
from heatlink.wire import Reading, encode_batch
from services.ingest.runs import expand_runs

T0 = datetime(2026, 1, 15, 6, 0, 0, 123456, tzinfo=UTC)


async def written(readings: Sequence[Reading], *, as_runs: bool = False) -> bytes:
    """The body the uplink would POST for ``readings`` (to a service that takes readings
    only, or as runs), unzipped."""
    uplink = HttpUplink("http://127.0.0.1:9", "glomfjord-gw1", "token")
    try:
        return gzip.decompress(uplink._encode("b-1", readings, as_runs))
    finally:
        await uplink.close()


def as_read(readings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Readings as the service takes them: a missing quality is good, times are instants."""
    return [(r["series"], datetime.fromisoformat(r["ts"]), r["value"],
             r.get("quality", "good"), r.get("unit")) for r in readings]


async def test_the_uplink_writes_a_batch_as_the_wire_format_defines_it() -> None:
    readings = [Reading(f"glomfjord/hx{i % 3}/supply_temp", T0 + timedelta(seconds=i // 3),
                        [71.25, -3.0, 1e-9, 12345678.9][i % 4],
                        ["good", "uncertain", "bad", "unknown"][i % 4],
                        "degC" if i % 2 else None) for i in range(40)]
    body = await written(readings)
    assert json.loads(body) == json.loads(encode_batch("glomfjord-gw1", "b-1", readings))
    assert b"1e-9" in body  # the float written in its shortest form, as the service reads it


async def test_whole_seconds_and_other_offsets_are_written_as_the_wire_format_defines() -> None:
    at = datetime(2026, 1, 15, 6, 0, 0, tzinfo=UTC)
    readings = [Reading("a", at, 1.0),
                Reading("b", at.astimezone(timezone(timedelta(hours=1))), 2.0),
                Reading("c", at + timedelta(microseconds=5000), 3.0)]
    body = await written(readings)
    assert json.loads(body) == json.loads(encode_batch("glomfjord-gw1", "b-1", readings))


async def test_a_batch_as_the_buffer_hands_it_out_is_written_as_the_wire_format_defines(
        tmp_path: Path) -> None:
    at = datetime(2026, 1, 15, 6, 0, 0, tzinfo=UTC)  # whole seconds among them
    readings = [Reading(f"glomfjord/hx{i % 3}/flow", at + timedelta(milliseconds=250 * i),
                        [71.25, -3.0, 1e-9][i % 3], ["good", "uncertain", "bad", "unknown"][i % 4],
                        "l/s" if i % 5 == 0 else None) for i in range(40)]
    buffer = await SqliteBuffer(tmp_path / "buffer.sqlite3", FakeClock(at)).open()
    try:
        await buffer.add(readings)
        tx = await buffer.begin(100)
        assert tx is not None
        body = await written(tx.readings)
    finally:
        await buffer.close()
    assert json.loads(body) == json.loads(encode_batch("glomfjord-gw1", "b-1",
                                                       list(tx.readings)))
    assert sorted(json.loads(body)["readings"], key=str) == \
        sorted(json.loads(encode_batch("glomfjord-gw1", "b-1", readings))["readings"], key=str)
    # As runs, laid out by the service's own reader: the same readings, in the same order
    # (a rejection's index names the same reading either way).
    runs = json.loads(await written(tx.readings, as_runs=True))
    assert as_read(expand_runs(runs["runs"], 100)) == as_read(json.loads(body)["readings"])


async def test_good_readings_go_without_their_quality_which_the_service_takes_as_good() -> None:
    readings = [Reading("a", T0, 1.0), Reading("a", T0 + timedelta(seconds=1), 2.0, "bad"),
                Reading("b", T0, 3.0, unit="degC"), Reading("c", T0, 4.0, "unknown")]
    for batch in (readings, ReadingColumns.of(readings)):
        sent = json.loads(await written(batch))["readings"]
        assert [(r["series"], r.get("quality")) for r in sent] == [
            ("a", None), ("a", "bad"), ("b", None), ("c", "unknown")]
        assert sent[2]["unit"] == "degC"


async def test_runs_that_share_times_and_bodies_one_after_another_read_as_their_readings(
) -> None:
    """A device's metrics come together, so their runs carry the same times, which the
    uplink writes once per body and keeps for the next one (the other lane, the next
    transaction): every body still lays out as exactly its own readings, whole seconds
    written as `format_ts` writes them."""
    at = datetime(2026, 1, 15, 6, 0, 0, tzinfo=UTC)
    first = [Reading(f"edge/m{k}", at + timedelta(milliseconds=500 * i), float(i + k))
             for i in range(6) for k in range(3)]
    second = [Reading(f"edge/m{k}", at + timedelta(milliseconds=500 * i), -float(i * k))
              for i in range(3, 9) for k in range(2)]
    uplink = HttpUplink("http://127.0.0.1:9", "glomfjord-gw1", "token")
    try:
        bodies = [json.loads(gzip.decompress(uplink._encode(
            f"b-{n}", ReadingColumns.of(readings), True)))
            for n, readings in enumerate([first, second, first])]
    finally:
        await uplink.close()
    for body, readings in zip(bodies, [first, second, first], strict=True):
        expected = json.loads(encode_batch("glomfjord-gw1", body["batch_id"],
                                           list(ReadingColumns.of(readings))))
        assert as_read(expand_runs(body["runs"], 100)) == as_read(expected["readings"])
    assert bodies[0]["runs"][0]["ts"][:2] == ["2026-01-15T06:00:00.000000+00:00",
                                              "2026-01-15T06:00:00.500000+00:00"]
