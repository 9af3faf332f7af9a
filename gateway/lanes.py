"""How the forwarder sends one transaction as several requests at once, each series in order.

A batch's time is spent in two places that can overlap: the gateway writing the body (JSON
and gzip) and the service reading and storing it. Sent one after the other, each waits for
the other; sent in lanes, the gateway writes the next request while the service stores the
last one. Each series goes in one lane only, and a lane's requests go one after the other,
so the service receives every series' readings in the order the buffer handed them out, as
it did when a whole batch was one request.

There are never more requests than one per `max_readings` of the transaction would make:
a transaction of one request's worth goes as one request, whatever the number of lanes.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil

from gateway.columns import ReadingColumns, SeriesRun
from heatlink.wire import Reading

Requests = list[Sequence[Reading]]  # a lane: its requests, sent one after the other


def lanes_of(readings: Sequence[Reading], lanes: int, max_readings: int) -> list[Requests]:
    """`readings` as at most `lanes` lanes of requests of at most `max_readings` each."""
    size = len(readings)
    wanted = min(lanes, ceil(size / max_readings))
    if wanted <= 1:
        return [_cut(readings, max_readings)]
    groups = _by_series(readings)
    # The largest series first, each into the lane with the fewest readings so far: lanes
    # of about equal size, so they end at about the same time.
    loads = [0] * wanted
    members: list[list[Sequence[Reading]]] = [[] for _ in range(wanted)]
    for group in sorted(groups, key=len, reverse=True):
        lane = loads.index(min(loads))
        loads[lane] += len(group)
        members[lane].append(group)
    return [_cut(_joined(lane), max_readings) for lane in members if lane]


def _by_series(readings: Sequence[Reading]) -> list[Sequence[Reading]]:
    """Each series' readings, in their order: columns (a series may have several runs, one
    per buffer chunk) or lists of readings."""
    if isinstance(readings, ReadingColumns):
        runs: dict[str, list[SeriesRun]] = {}
        for run in readings.runs:
            runs.setdefault(run.series, []).append(run)
        return [ReadingColumns(series_runs) for series_runs in runs.values()]
    lists: dict[str, list[Reading]] = {}
    for reading in readings:
        lists.setdefault(reading.series, []).append(reading)
    return list(lists.values())


def _joined(groups: list[Sequence[Reading]]) -> Sequence[Reading]:
    if all(isinstance(group, ReadingColumns) for group in groups):
        return ReadingColumns(run for group in groups
                              for run in group.runs)  # type: ignore[attr-defined]
    return [reading for group in groups for reading in group]


def _cut(readings: Sequence[Reading], max_readings: int) -> Requests:
    """A lane's readings as requests of about equal size, none over `max_readings` (two of
    5,004 rather than one of 10,000 and one of 8)."""
    size = len(readings)
    count = max(1, ceil(size / max_readings))
    if count == 1:
        return [readings]
    step = ceil(size / count)
    if isinstance(readings, ReadingColumns):
        return [_columns_slice(readings, start, min(size, start + step))
                for start in range(0, size, step)]
    return [readings[start:start + step] for start in range(0, size, step)]


def _columns_slice(columns: ReadingColumns, start: int, stop: int) -> ReadingColumns:
    """Readings [start, stop) of columns, as columns (`ReadingColumns` slices as a list)."""
    runs = []
    offset = 0
    for run in columns.runs:
        n = len(run)
        a, b = max(start - offset, 0), min(stop - offset, n)
        if a < b:
            runs.append(run if (a, b) == (0, n) else SeriesRun(
                run.series, run.unit, run.ts_us[a:b], run.values[a:b], run.quality[a:b]))
        offset += n
        if offset >= stop:
            break
    return ReadingColumns(runs)
