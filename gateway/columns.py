"""`ReadingColumns`: a batch of readings held as columns, one run per series.

A `Reading` per value cost more than anything done with it on the busy paths: made by the
source, taken apart by the buffer, made again from the buffer's chunks and taken apart
again by the uplink. Here a batch is runs instead: per series (and unit), its source times
(int microseconds since the epoch), values and quality codes (`heatlink.quality`). The
Sparkplug and MQTT sources write into one, the buffer packs its runs as chunks and hands a
batch out as one, and the uplink encodes it run by run.

To everything else it is the `Sequence[Reading]` the protocols name: indexing and
iteration make the readings on demand, run after run. That is an order of its own: each
series' readings in the order they came, series in the order of their runs, not the order
of arrival across series, which no part of the gateway keeps (the buffer keeps each series'
order only).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate, repeat
from typing import overload

from heatlink.quality import QUALITY_CODES, QUALITY_NAMES
from heatlink.wire import Reading, from_us, reading_of, to_us

BAD = QUALITY_CODES["bad"]  # the code of a quality the buffer does not know (as it always was)


@dataclass(slots=True)
class SeriesRun:
    """Readings of one series in one unit, in the order they came: three columns of equal
    length. A source fills arrays of the buffer's own widths (int64 µs, float64, uint8),
    which the buffer then packs without a conversion per value; any mutable sequence of
    the same numbers will do (tests give lists)."""

    series: str
    unit: str | None
    ts_us: MutableSequence[int] = field(default_factory=lambda: array("q"))
    values: MutableSequence[float] = field(default_factory=lambda: array("d"))
    quality: MutableSequence[int] = field(default_factory=lambda: array("B"))  # heatlink.quality

    def __len__(self) -> int:
        return len(self.ts_us)

    def readings(self, stamps: dict[int, datetime]) -> Iterator[Reading]:
        """The run as readings; `stamps` holds the times made so far (the series of one
        message share theirs)."""
        times = [stamps.get(ts) or stamps.setdefault(ts, from_us(ts)) for ts in self.ts_us]
        return map(reading_of, zip(repeat(self.series), times, self.values,
                                    map(QUALITY_NAMES.__getitem__, self.quality),
                                    repeat(self.unit)))


class ReadingColumns(Sequence[Reading]):
    """Readings as `SeriesRun`s. A source adds to the run `run(series, unit)` gives, or
    readings one at a time (`append`, `extend`)."""

    __slots__ = ("latest", "runs", "started")

    def __init__(self, runs: Iterable[SeriesRun] = ()) -> None:
        self.runs: list[SeriesRun] = list(runs)
        # series -> the run its next reading goes to (its last one)
        self.latest: dict[str, SeriesRun] = {run.series: run for run in self.runs}
        # Runs started so far: a writer that holds on to runs (their appends) checks it
        # once per message, not the run of every reading, to see that they are still
        # where the next readings of their series go.
        self.started = len(self.runs)

    @classmethod
    def of(cls, readings: Iterable[Reading]) -> ReadingColumns:
        if isinstance(readings, ReadingColumns):
            return readings
        columns = cls()
        columns.extend(readings)
        return columns

    def run(self, series: str, unit: str | None) -> SeriesRun:
        """Where the next reading of `series` in `unit` goes: the series' last run, or a new
        one when it has none yet or that one is in another unit."""
        run = self.latest.get(series)
        if run is None or run.unit != unit:
            run = self.latest[series] = SeriesRun(series, unit)
            self.runs.append(run)
            self.started += 1
        return run

    def append(self, reading: Reading) -> None:
        series, ts, value, quality, unit = reading
        run = self.latest.get(series)
        if run is None or run.unit != unit:
            run = self.run(series, unit)
        run.ts_us.append(to_us(ts))
        run.values.append(value)
        run.quality.append(QUALITY_CODES.get(quality, BAD))

    def extend(self, readings: Iterable[Reading]) -> None:
        for reading in readings:
            self.append(reading)

    # ---- Sequence[Reading] -------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(run.ts_us) for run in self.runs)

    def __bool__(self) -> bool:
        return any(run.ts_us for run in self.runs)

    def __iter__(self) -> Iterator[Reading]:
        stamps: dict[int, datetime] = {}
        for run in self.runs:
            yield from run.readings(stamps)

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | Sequence[Reading]:
        if isinstance(index, slice):  # (a batch split in halves: rare, and short-lived)
            return list(self)[index]
        ends = list(accumulate(len(run.ts_us) for run in self.runs))
        size = ends[-1] if ends else 0
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("reading index out of range")
        k = bisect_right(ends, index)
        run = self.runs[k]
        at = index - (ends[k - 1] if k else 0)
        return Reading(run.series, from_us(run.ts_us[at]), run.values[at],
                       QUALITY_NAMES[run.quality[at]], run.unit)

    def __eq__(self, other: object) -> bool:
        """Equal to the same readings in the same order, as columns or as a list."""
        if isinstance(other, ReadingColumns | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (mutable, as a list)

    def __repr__(self) -> str:
        return f"ReadingColumns({list(self)!r})"
