"""Per-reading checks that need the cluster: series, permission, unit, range, time window.

The syntactic checks are shared with the gateway in ``heatlink.wire``. Ingest checks tens
of thousands of readings a second, two ways: `check_typed` takes the common batch (typed
readings, all good) a column at a time, with numpy; `check_readings` takes any batch one
reading at a time, on plain dicts and tuples with attribute look-ups kept out of the loop,
and says what is wrong with each bad reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain, repeat
from operator import attrgetter
from typing import Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from heatlink.inputs import printable
from heatlink.quality import QUALITY_CODES
from heatlink.units import UnitError, convert
from heatlink.wire import Rejection, RejectReason, check_quality, check_ts, check_value, shown
from services.ingest.copy_binary import pg_micros
from services.ingest.decode import TypedReading, Unreadable
from services.ingest.runs import TypedRun


@dataclass(frozen=True)
class SeriesLimits:
    series_id: int
    unit: str
    range_min: float
    range_max: float


@dataclass
class CheckedBatch:
    """Readings that passed, as columns ready for COPY, and those that did not."""

    series_ids: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    ts: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    ts_us: list[int] = field(default_factory=list)  # ts as PostgreSQL microseconds, for COPY
    indexes: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    raw_rejected: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.series_ids)


def check_readings(raw_readings: list[Any], limits: dict[str, SeriesLimits],
                   permitted: frozenset[str] | None, now: datetime,
                   max_future_skew_s: float, retention_days: int) -> CheckedBatch:
    """Check each reading on its own; ``permitted`` None means any known series."""
    out = CheckedBatch()
    newest = now + timedelta(seconds=max_future_skew_s)
    oldest = now - timedelta(days=retention_days)
    reject = out.rejected.append
    keep_raw = out.raw_rejected.append
    # A plant interface samples many tags at one instant: a batch holds few distinct
    # timestamps, so each is parsed once (parsing was a tenth of the ingest path), and
    # one inside the window is kept with its COPY microseconds, so the common reading
    # compares no datetimes.
    stamps: dict[str, datetime | tuple[RejectReason, str]] = {}
    fine: dict[str, tuple[datetime, int]] = {}
    add_id, add_key, add_ts = out.series_ids.append, out.keys.append, out.ts.append
    add_value, add_quality, add_index = out.values.append, out.quality.append, out.indexes.append
    add_us = out.ts_us.append
    codes = QUALITY_CODES.get
    for index, raw in enumerate(raw_readings):
        if not isinstance(raw, dict):
            detail = (f"the reading is not valid JSON: {raw.why}" if isinstance(raw, Unreadable)
                      else f"a reading must be a JSON object, got {shown(raw)}")
            reject(Rejection(index=index, reason=RejectReason.MALFORMED, detail=detail))
            keep_raw(raw)
            continue
        series = raw.get("series")
        if not isinstance(series, str):
            reject(Rejection(index=index, reason=RejectReason.MALFORMED,
                             detail=f"'series' must be a string, got {shown(series)}"))
            keep_raw(raw)
            continue
        found = limits.get(series)
        if found is None or (permitted is not None and series not in permitted):
            # The key comes back as text that JSON and PostgreSQL can carry; the quarantine
            # keeps it exactly as sent.
            key = printable(series)
            reason = RejectReason.UNKNOWN_SERIES if found is None else RejectReason.NOT_PERMITTED
            detail = (f"no series '{printable(series, 100)}' in the cluster" if found is None
                      else f"this gateway may not write {series!r}")
            reject(Rejection(index=index, series=key, reason=reason, detail=detail))
            keep_raw(raw)
            continue
        raw_ts = raw.get("ts")
        if type(raw_ts) is str:
            hit = fine.get(raw_ts)
            if hit is None and raw_ts not in stamps:
                parsed = stamps[raw_ts] = check_ts(raw_ts)
                if type(parsed) is datetime and oldest <= parsed <= newest:
                    hit = fine[raw_ts] = (parsed, pg_micros(parsed))
        else:
            hit = None
        value = raw.get("value")
        unit = raw.get("unit")
        quality = raw.get("quality", "good")
        # The common reading, checked inline: every check `_check_one` makes, passed (a
        # time inside the window, a finite float inside the range, no unit to convert, a
        # quality by name); anything else takes the full path, which says what is wrong.
        if (hit is not None and type(value) is float and value - value == 0.0
                and found.range_min <= value <= found.range_max
                and (unit is None or unit == found.unit) and type(quality) is str
                and (code := codes(quality)) is not None):
            ts, us = hit
            add_us(us)
        else:
            stamp = stamps[raw_ts] if type(raw_ts) is str else check_ts(raw_ts)
            checked = _check_one(raw, raw_ts, stamp, found, newest, oldest)
            if not isinstance(checked, _Good):
                reject(Rejection(index=index, series=series, reason=checked[0],
                                 detail=checked[1]))
                keep_raw(raw)
                continue
            ts, value, code = checked
            add_us(pg_micros(ts))
        add_id(found.series_id)
        add_key(series)
        add_ts(ts)
        add_value(value)
        add_quality(code)
        add_index(index)
    return out


@dataclass(frozen=True)
class Writable:
    """The series one token may write, as `check_typed` looks them up: a position each,
    and per position the series' id, physical range and unit."""

    position: dict[str, int]
    series_ids: NDArray[np.int64]
    range_min: NDArray[np.float64]
    range_max: NDArray[np.float64]
    units: list[str]

    @classmethod
    def of(cls, limits: Mapping[str, SeriesLimits], permitted: frozenset[str] | None
           ) -> Writable:
        keys = [k for k in limits if permitted is None or k in permitted]
        found = [limits[k] for k in keys]
        return cls({k: i for i, k in enumerate(keys)},
                   np.array([f.series_id for f in found], dtype=np.int64),
                   np.array([f.range_min for f in found], dtype=np.float64),
                   np.array([f.range_max for f in found], dtype=np.float64),
                   [f.unit for f in found])


_SERIES, _TS, _VALUE = attrgetter("series"), attrgetter("ts"), attrgetter("value")
_QUALITY, _UNIT = attrgetter("quality"), attrgetter("unit")


def check_typed(readings: list[TypedReading], writable: Writable, now: datetime,
                max_future_skew_s: float, retention_days: int) -> CheckedBatch | None:
    """The common batch, checked a column at a time: every reading of a series the token
    may write, at a time inside the window, a finite value inside the series' range, in
    its own unit (or none given), with a quality by name. The same columns
    `check_readings` gives for it; None as soon as one reading is not of that kind (the
    caller then checks the batch with `check_readings`, which says what is wrong)."""
    keys = list(map(_SERIES, readings))
    try:
        at = np.fromiter(map(writable.position.__getitem__, keys), dtype=np.intp,
                         count=len(keys))
    except KeyError:  # a series unknown, or not this token's
        return None
    if set(map(_UNIT, readings)) - {None}:
        own = writable.units
        if any(r.unit is not None and r.unit != own[i]
               for r, i in zip(readings, at.tolist(), strict=True)):
            return None
    return _check_columns(keys, at, map(_VALUE, readings), list(map(_QUALITY, readings)),
                          list(map(_TS, readings)), writable, now, max_future_skew_s,
                          retention_days)


def check_runs(runs: list[TypedRun], writable: Writable, now: datetime,
               max_future_skew_s: float, retention_days: int) -> CheckedBatch | None:
    """`check_typed` for a batch of runs: a series, its unit and its columns' lengths are
    looked at once per run."""
    positions = []
    for run in runs:
        at = writable.position.get(run.series)
        if at is None or (run.unit is not None and run.unit != writable.units[at]) or \
                len(run.value) != len(run.ts) or \
                (run.quality is not None and len(run.quality) != len(run.ts)):
            return None
        positions.append(at)
    lengths = [len(run.ts) for run in runs]
    keys = list(chain.from_iterable(repeat(run.series, n) for run, n in zip(runs, lengths,
                                                                             strict=True)))
    quality = list(chain.from_iterable(repeat("good", n) if run.quality is None
                                       else run.quality for run, n in zip(runs, lengths,
                                                                          strict=True)))
    return _check_columns(keys, np.repeat(np.array(positions, dtype=np.intp), lengths),
                          chain.from_iterable(run.value for run in runs), quality,
                          list(chain.from_iterable(run.ts for run in runs)), writable, now,
                          max_future_skew_s, retention_days)


def _check_columns(keys: list[str], at: NDArray[np.intp], raw_values: Iterable[float],
                   raw_quality: list[str], raw_ts: list[str], writable: Writable,
                   now: datetime, max_future_skew_s: float, retention_days: int
                   ) -> CheckedBatch | None:
    """Values, qualities and times of readings whose series (`at`, positions in
    `writable`) and units were found good."""
    count = len(keys)
    values = np.fromiter(raw_values, dtype=np.float64, count=count)
    if not (np.isfinite(values).all() and (writable.range_min[at] <= values).all()
            and (values <= writable.range_max[at]).all()):
        return None
    quality = list(map(QUALITY_CODES.get, raw_quality))
    if None in quality:
        return None
    newest = now + timedelta(seconds=max_future_skew_s)
    oldest = now - timedelta(days=retention_days)
    stamps: dict[str, datetime] = {}
    micros: dict[str, int] = {}
    for raw in set(raw_ts):  # a batch holds few distinct timestamps: each parsed once
        ts = check_ts(raw)
        if type(ts) is not datetime or not oldest <= ts <= newest:
            return None
        stamps[raw], micros[raw] = ts, pg_micros(ts)
    return CheckedBatch(series_ids=writable.series_ids[at].tolist(), keys=keys,
                        ts=list(map(stamps.__getitem__, raw_ts)), values=values.tolist(),
                        quality=cast(list[int], quality),  # no None: see above
                        ts_us=list(map(micros.__getitem__, raw_ts)),
                        indexes=list(range(count)))


class _Good(NamedTuple):
    ts: datetime
    value: float
    quality: int


def _check_one(raw: dict[str, Any], raw_ts: Any, ts: datetime | tuple[RejectReason, str],
               limits: SeriesLimits, newest: datetime,
               oldest: datetime) -> _Good | tuple[RejectReason, str]:
    if isinstance(ts, tuple):
        return ts
    if ts > newest:
        return (RejectReason.FUTURE_TIMESTAMP,
                f"'ts' {raw_ts} is ahead of the service's clock by more than the allowed skew")
    if ts < oldest:
        return RejectReason.TOO_OLD, f"'ts' {raw_ts} is older than the retention period"
    value = check_value(raw.get("value"))
    if isinstance(value, tuple):
        return value
    unit = raw.get("unit")
    if unit is not None and unit != limits.unit:
        if not isinstance(unit, str):
            return RejectReason.BAD_VALUE, f"'unit' must be text, got {shown(unit)}"
        try:
            value = convert(value, unit, limits.unit)
        except UnitError as exc:
            return RejectReason.BAD_VALUE, f"'unit': {printable(str(exc), 300)}"
    if not limits.range_min <= value <= limits.range_max:
        return (RejectReason.OUT_OF_RANGE,
                f"{value:g} {limits.unit} is outside the series' physical range "
                f"[{limits.range_min:g}, {limits.range_max:g}]")
    quality = check_quality(raw.get("quality", "good"))
    if isinstance(quality, tuple):
        return quality
    return _Good(ts, value, QUALITY_CODES[quality])
