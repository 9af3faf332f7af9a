"""A chunk: the readings of one series that one `add` brought, packed as one buffer row.

One row per reading cost the buffer more than everything else the gateway does with a
reading (an index entry, six bound parameters, a row to read back and one to delete).
A chunk packs its readings in three columns of fixed-width little-endian numbers: source
times (int64 microseconds), values (float64) and quality codes (uint8). Its unit is one
for all of them: a change of unit within a series starts a new chunk.

Readings are addressed by their index in the chunk; `skip` leading ones were delivered
already (a batch took only part of the chunk).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby, repeat
from operator import itemgetter

from heatlink.quality import QUALITY_CODES, QUALITY_NAMES
from heatlink.wire import Reading, reading_of

MAX_READINGS = 4096  # a longer run starts a new chunk: a partial take reads less
BIG_ENDIAN = sys.byteorder == "big"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
# Readings are many and short-lived here: their fields are taken and they are made with
# C-level calls (itemgetter, `reading_of`), not a Python-level function per reading.
TS, VALUE, QUALITY, UNIT = itemgetter(1), itemgetter(2), itemgetter(3), itemgetter(4)


def to_us(ts: datetime) -> int:
    return (ts - EPOCH) // ONE_US


def from_us(ts_us: int) -> datetime:
    return EPOCH + ONE_US * ts_us


def _bytes(values: array[int] | array[float]) -> bytes:
    if BIG_ENDIAN:  # the file is little-endian whatever the machine
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _array(typecode: str, raw: bytes) -> array[int] | array[float]:
    values: array[int] | array[float] = array(typecode)
    values.frombytes(raw)
    if BIG_ENDIAN:
        values.byteswap()
    return values


@dataclass(slots=True)
class Chunk:
    series_id: int
    unit: str | None
    ts_us: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))
    quality: array[int] = field(default_factory=lambda: array("B"))

    def __len__(self) -> int:
        return len(self.ts_us)

    def columns(self) -> tuple[bytes, bytes, bytes]:
        return _bytes(self.ts_us), _bytes(self.values), self.quality.tobytes()

    @classmethod
    def from_columns(cls, series_id: int, unit: str | None, ts_us: bytes, values: bytes,
                     quality: bytes) -> Chunk:
        return cls(series_id, unit, _array("q", ts_us),  # type: ignore[arg-type]
                   _array("d", values), array("B", quality))  # type: ignore[arg-type]

    def readings(self, key: str, start: int, stop: int,
                 stamps: dict[int, datetime]) -> Iterator[Reading]:
        """Readings [start, stop) of the chunk, as series `key`; `stamps` holds the times made
        so far (readings of one message share theirs)."""
        times = [stamps.get(ts_us) or stamps.setdefault(ts_us, from_us(ts_us))
                 for ts_us in self.ts_us[start:stop]]
        return map(reading_of, zip(repeat(key), times, self.values[start:stop],
                                    map(QUALITY_NAMES.__getitem__, self.quality[start:stop]),
                                    repeat(self.unit)))

    def without(self, start: int, stop: int) -> Chunk:
        """The chunk with readings [start, stop) taken out (those before and after keep
        their order; those before keep their index)."""
        return Chunk(self.series_id, self.unit, self.ts_us[:start] + self.ts_us[stop:],
                     self.values[:start] + self.values[stop:],
                     self.quality[:start] + self.quality[stop:])


def chunks_of(series_id: int, readings: Sequence[Reading]) -> list[Chunk]:
    """One series' readings as chunks, in their order: a new chunk where the unit changes
    or the chunk is full."""
    chunks = []
    for start in range(0, len(readings), MAX_READINGS):
        part = readings[start:start + MAX_READINGS]
        if len(set(map(UNIT, part))) == 1:
            chunks.append(_packed(series_id, part[0].unit, part))
        else:
            chunks += [_packed(series_id, unit, list(run)) for unit, run in groupby(part, UNIT)]
    return chunks


def _packed(series_id: int, unit: str | None, readings: Sequence[Reading]) -> Chunk:
    return Chunk(series_id, unit, array("q", map(to_us, map(TS, readings))),
                 array("d", map(VALUE, readings)),
                 array("B", map(QUALITY_CODES.get, map(QUALITY, readings), repeat(2))))
