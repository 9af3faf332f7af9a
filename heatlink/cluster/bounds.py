"""How far a rule may be set: finite numbers, a band inside its series' physical range, and
never looser than the hard limits the cluster file sets for the series.

Checked when the cluster file is loaded and again on every change through the API, so a
token that may change a rule still cannot switch off the alarm that guards a tank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from heatlink.cluster.model import HardLimit
from heatlink.cluster.rule_spec import BandRule, RampRule, StaleRule

MAX_WINDOW_S = 86_400.0
MAX_MIN_SAMPLES = 10_000


def rule_problems(spec: Any, series_range: tuple[float, float] | None,
                  hard: HardLimit | None) -> list[str]:
    """What is wrong with ``spec`` (a rule of any kind), one sentence each; empty: fine."""
    problems = [f"{name} must be a finite number, not {value}"
                for name, value in _numbers(spec.model_dump()) if not math.isfinite(value)]
    if problems:
        return problems
    if isinstance(spec, BandRule):
        problems += _band(spec, series_range, hard)
    elif isinstance(spec, RampRule):
        problems += _ramp(spec, hard)
    elif isinstance(spec, StaleRule) and hard is not None and hard.max_age_s is not None \
            and spec.max_age_s > hard.max_age_s:
        problems.append(f"max_age_s {spec.max_age_s:g} is looser than the hard limit "
                        f"{hard.max_age_s:g} s of {spec.series} (cluster file)")
    return problems


def _numbers(value: Any, name: str = "") -> Iterable[tuple[str, float]]:
    if isinstance(value, float):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{name}[{i}]")


def _band(spec: BandRule, series_range: tuple[float, float] | None,
          hard: HardLimit | None) -> list[str]:
    problems = []
    if spec.low is not None and spec.high is not None and spec.low >= spec.high:
        problems.append(f"low {spec.low:g} must be below high {spec.high:g}")
    if series_range is not None:
        lo, hi = series_range
        for side in ("low", "high"):
            value = getattr(spec, side)
            if value is not None and not lo <= value <= hi:
                problems.append(f"{side} {value:g} lies outside the physical range "
                                f"[{lo:g}, {hi:g}] of {spec.series}")
    if hard is not None and hard.widest_band is not None:
        floor, ceiling = hard.widest_band
        where = f"the hard limit [{floor:g}, {ceiling:g}] of {spec.series} (cluster file)"
        if spec.low is None:
            problems.append(f"low may not be removed: {where} bounds it")
        elif spec.low < floor:
            problems.append(f"low {spec.low:g} is looser than {where}")
        if spec.high is None:
            problems.append(f"high may not be removed: {where} bounds it")
        elif spec.high > ceiling:
            problems.append(f"high {spec.high:g} is looser than {where}")
    if hard is not None:
        problems += _delay(spec.on_delay_s, spec.series, hard)
    return problems


def _ramp(spec: RampRule, hard: HardLimit | None) -> list[str]:
    problems = []
    if any(not 0 < w <= MAX_WINDOW_S for w in spec.windows_s):
        problems.append(f"every window in windows_s must lie in (0, {MAX_WINDOW_S:g}] s")
    # A window that can never gather its samples never judges a slope: a quiet way to
    # switch the alarm off.
    if spec.min_samples > MAX_MIN_SAMPLES:
        problems.append(f"min_samples {spec.min_samples} exceeds {MAX_MIN_SAMPLES}")
    if hard is None:
        return problems
    if hard.max_rate_per_h is not None:
        limit = hard.max_rate_per_h
        for side in ("max_rise_per_h", "max_fall_per_h"):
            value = getattr(spec, side)
            if value is None:
                problems.append(f"{side} may not be removed: the hard limit of "
                                f"{spec.series} is {limit:g} per hour (cluster file)")
            elif value > limit:
                problems.append(f"{side} {value:g} is looser than the hard limit {limit:g} "
                                f"per hour of {spec.series} (cluster file)")
    problems += _delay(spec.on_delay_s, spec.series, hard)
    return problems


def _delay(on_delay_s: float, series: str, hard: HardLimit) -> list[str]:
    if hard.max_delay_s is not None and on_delay_s > hard.max_delay_s:
        return [f"on_delay_s {on_delay_s:g} is looser than the hard limit "
                f"{hard.max_delay_s:g} s of {series} (cluster file)"]
    return []
