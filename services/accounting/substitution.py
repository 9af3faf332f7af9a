"""Filling a missing hour of the billing meter by the contract's substitution rule.

The rule lists methods in order of precedence; the first that gives a value fills the hour:
- ``other_meter``: the other party's meter measured the hour;
- ``linear``: the hour lies in a run of at most ``max_hours`` missing hours with measured
  hours on both sides; the run is filled on the straight line between them;
- ``same_hour_last_week``: the billing meter measured the same hour seven days earlier
  (an estimate from a comparable earlier period, as the German heating cost ordinance §9a
  does it).
No more than ``max_substituted_share`` of a month's hours are filled, in time order; the
rest stay missing and the month says the cap was reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import floor

from heatlink.cluster.metering import SubstitutionRule

WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Substituted:
    value: float
    method: str
    rule_version: int


@dataclass(frozen=True)
class Filled:
    values: dict[datetime, Substituted]
    missing: tuple[datetime, ...]  # still missing after the rule (and its cap)
    cap_hours: int
    cap_reached: bool


def fill(hours: Sequence[datetime], billing: Mapping[datetime, float | None],
         other: Mapping[datetime, float | None], rule: SubstitutionRule | None,
         rule_version: int, month_hours: int) -> Filled:
    """Substitutes for the hours of ``hours`` (of one month of ``month_hours`` hours) whose
    billing value is None.

    ``billing`` also holds the week before the month, for ``same_hour_last_week``.
    """
    gaps = [h for h in hours if billing.get(h) is None]
    if rule is None:
        return Filled({}, tuple(gaps), 0, False)
    cap = floor(rule.max_substituted_share * month_hours + 1e-9)
    runs = _runs(gaps)
    values: dict[datetime, Substituted] = {}
    missing: list[datetime] = []
    cap_reached = False
    for hour in gaps:
        found = next(((value, step.method) for step in rule.methods
                      if (value := _try(step.method, step.max_hours, hour, billing, other,
                                        runs)) is not None), None)
        if found is None:
            missing.append(hour)
        elif len(values) >= cap:
            cap_reached = True
            missing.append(hour)
        else:
            values[hour] = Substituted(found[0], found[1], rule_version)
    return Filled(values, tuple(missing), cap, cap_reached)


def _try(method: str, max_hours: int | None, hour: datetime,
         billing: Mapping[datetime, float | None], other: Mapping[datetime, float | None],
         runs: dict[datetime, tuple[datetime, int, int]]) -> float | None:
    match method:
        case "other_meter":
            return other.get(hour)
        case "linear":
            first, length, position = runs[hour]
            before, after = billing.get(first - HOUR), billing.get(first + length * HOUR)
            if max_hours is None or length > max_hours or before is None or after is None:
                return None
            return before + (after - before) * position / (length + 1)
        case "same_hour_last_week":
            return billing.get(hour - WEEK)
    raise ValueError(f"unknown substitution method {method!r}")


def _runs(gaps: Sequence[datetime]) -> dict[datetime, tuple[datetime, int, int]]:
    """hour → (first hour of its run of consecutive gaps, run length, 1-based position)."""
    out: dict[datetime, tuple[datetime, int, int]] = {}
    run: list[datetime] = []
    for hour in [*gaps, None]:
        if hour is not None and run and hour - run[-1] == HOUR:
            run.append(hour)
            continue
        for i, member in enumerate(run):
            out[member] = (run[0], len(run), i + 1)
        run = [] if hour is None else [hour]
    return out
