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
from dataclasses import dataclass, field
from typing import Any

from gateway.columns import SeriesRun

MAX_READINGS = 4096  # a longer run starts a new chunk: a partial take reads less
BIG_ENDIAN = sys.byteorder == "big"


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

    def run(self, key: str, start: int, stop: int) -> SeriesRun:
        """Readings [start, stop) of the chunk, as a run of series `key`."""
        return SeriesRun(key, self.unit, self.ts_us[start:stop], self.values[start:stop],
                         self.quality[start:stop])

    def without(self, start: int, stop: int) -> Chunk:
        """The chunk with readings [start, stop) taken out (those before and after keep
        their order; those before keep their index)."""
        return Chunk(self.series_id, self.unit, self.ts_us[:start] + self.ts_us[stop:],
                     self.values[:start] + self.values[stop:],
                     self.quality[:start] + self.quality[stop:])


def chunks_of(series_id: int, run: SeriesRun) -> list[Chunk]:
    """A run of readings as chunks, in its order: a new chunk where one is full."""
    return [Chunk(series_id, run.unit, _column("q", run.ts_us[start:start + MAX_READINGS]),
                  _column("d", run.values[start:start + MAX_READINGS]),
                  _column("B", run.quality[start:start + MAX_READINGS]))
            for start in range(0, len(run), MAX_READINGS)]


def _column(typecode: str, values: Any) -> Any:
    """`values` as an array of `typecode`: a slice of one already is (the sources fill
    such arrays), anything else is converted value by value."""
    if isinstance(values, array) and values.typecode == typecode:
        return values
    return array(typecode, values)
