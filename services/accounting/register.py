"""A cumulative register (a heat meter's kWh, a water meter's m³) turned into hourly amounts.

The database sums the ordinary steps between consecutive readings (rising, inside one hour,
short); the few others come here whole. A step that falls is a rollover when the previous
reading stood in the register's last percent before it wraps, else a reset (a replaced or
reset calculator), after which the register counts from zero again. A step that crosses
hours is split between them in proportion to time, as the register is read at the hour
boundary by linear interpolation. A step longer than the longest ordinary one is a gap:
its time does not count as covered, its amount is not spread over hours nobody measured,
and the hours it touches are flagged, so the contract's substitution rule fills them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ROLLOVER = "register_rollover"
RESET = "register_reset"
GAP = "register_gap"
ROLLOVER_ZONE = 0.99  # a fall from above this share of the wrap value is a rollover

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Step:
    from_ts: datetime
    from_value: float
    to_ts: datetime
    to_value: float


@dataclass(frozen=True)
class HourSums:
    """What the database summed for one hour, and its special steps."""

    hour: datetime
    inner_increase: float
    inner_s: float
    special: tuple[Step, ...] = ()


@dataclass
class RegisterHour:
    amount: float = 0.0
    covered_s: float = 0.0
    flags: set[str] = field(default_factory=set)


def step_increase(step: Step, rollover_at: float | None) -> tuple[float, str | None]:
    """What a step added to the register, and the flag of a fall."""
    rise = step.to_value - step.from_value
    if rise >= 0:
        return rise, None
    if rollover_at is not None and step.from_value >= ROLLOVER_ZONE * rollover_at:
        return step.to_value + rollover_at - step.from_value, ROLLOVER
    return step.to_value, RESET


def register_hours(sums: Iterable[HourSums], hours: Sequence[datetime],
                   rollover_at: float | None, max_step_s: float) -> dict[datetime, RegisterHour]:
    """Amount per hour of ``hours`` (consecutive hour starts); hours no step touches are
    absent, so the caller knows them as missing."""
    if not hours:
        return {}
    first, end = hours[0], hours[-1] + HOUR
    out: dict[datetime, RegisterHour] = {}
    specials: list[Step] = []
    for s in sums:
        if first <= s.hour < end and (s.inner_s > 0 or s.inner_increase):
            h = out.setdefault(s.hour, RegisterHour())
            h.amount += s.inner_increase
            h.covered_s += s.inner_s
        specials.extend(s.special)
    for step in specials:
        increase, flag = step_increase(step, rollover_at)
        span_s = (step.to_ts - step.from_ts).total_seconds()
        if span_s <= 0:
            continue
        for hour, overlap_s in _overlaps(step.from_ts, step.to_ts, first, end):
            h = out.setdefault(hour, RegisterHour())
            if span_s > max_step_s:
                h.flags.add(GAP)
            else:
                h.amount += increase * overlap_s / span_s
                h.covered_s += overlap_s
        if flag is not None:
            # The fall happened at the later reading: the hour that reading is in says so.
            hour = _hour_of(step.to_ts, first)
            if first <= hour < end:
                out.setdefault(hour, RegisterHour()).flags.add(flag)
    return out


def _hour_of(moment: datetime, origin: datetime) -> datetime:
    return origin + HOUR * ((moment - origin) // HOUR)


def _overlaps(a: datetime, b: datetime, first: datetime,
              end: datetime) -> Iterable[tuple[datetime, float]]:
    """(hour, seconds of [a, b) inside it) for the hours of [first, end) that [a, b) meets."""
    lo, hi = max(a, first), min(b, end)
    if lo >= hi:
        return
    hour = _hour_of(lo, first)
    while hour < hi:
        part = (min(hi, hour + HOUR) - max(lo, hour)).total_seconds()
        if part > 0:
            yield hour, part
        hour += HOUR
