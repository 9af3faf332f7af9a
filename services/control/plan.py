"""The shape of a ramp: from a start value to a target no faster than a rate limit.

A pure function of elapsed time. The velocity profile is a trapezoid: the rate builds up
linearly over ``ease_s``, cruises, and eases off over ``ease_s`` before the target. A
setpoint that jumps from standing still to full rate makes the plant's PI controller
catch up and overshoot: the tank then moves faster than its setpoint (measured on the
simulated smolt tank: 2.7 K/h for a 1.8 K/h setpoint ramp with sharp corners, 1.9 K/h with
a 30-minute ease). The planner also plans below the limit (``rate_fraction``) for the same
reason; both are per-point settings in the cluster file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_RAMP_S = 366 * 86400


class PlanError(ValueError):
    """The change cannot be planned (target outside the range, no usable limit)."""


class StartError(PlanError):
    """The plant gives no value to start from: none fresh, or one outside the range."""


@dataclass(frozen=True)
class RampPlan:
    start_value: float
    target: float
    rate_per_s: float  # cruise rate, positive
    ease_s: float  # time to reach the cruise rate (and to come off it)
    step_s: float

    @property
    def delta(self) -> float:
        return abs(self.target - self.start_value)

    @property
    def _ease(self) -> float:
        # Under a millisecond is no ease at all (and a subnormal one would divide to inf).
        return self.ease_s if self.ease_s >= 1e-3 else 0.0

    @property
    def _accel_phase_s(self) -> float:
        """How long the rate builds up: ``ease_s``, or less when the change is small."""
        if self._ease <= 0:
            return 0.0
        accel = self.rate_per_s / self._ease
        return min(self._ease, math.sqrt(self.delta / accel))

    @property
    def duration_s(self) -> float:
        t_acc = self._accel_phase_s
        if self._ease <= 0:
            return self.delta / self.rate_per_s
        peak = self.rate_per_s * t_acc / self._ease
        cruise = (self.delta - peak * t_acc) / self.rate_per_s if t_acc == self._ease else 0.0
        return 2 * t_acc + max(cruise, 0.0)

    @property
    def steps(self) -> int:
        """Commands in the ramp (the last one sets the target)."""
        return max(1, math.ceil(self.duration_s / self.step_s - 1e-9))

    def distance_at(self, elapsed_s: float) -> float:
        total = self.duration_s
        if elapsed_s <= 0:
            return 0.0
        if elapsed_s >= total:
            return self.delta
        t_acc = self._accel_phase_s
        if t_acc == 0:
            return self.rate_per_s * elapsed_s
        accel = self.rate_per_s / self._ease
        if elapsed_s < t_acc:
            return 0.5 * accel * elapsed_s ** 2
        if elapsed_s > total - t_acc:
            return self.delta - 0.5 * accel * (total - elapsed_s) ** 2
        return 0.5 * accel * t_acc ** 2 + accel * t_acc * (elapsed_s - t_acc)

    def value_of_step(self, k: int) -> float:
        """The setpoint of command ``k`` (1-based); the last one is exactly the target."""
        if k >= self.steps:
            return self.target
        sign = 1.0 if self.target >= self.start_value else -1.0
        value = round(self.start_value + sign * self.distance_at(k * self.step_s), 4)
        # Rounding may not carry a step past either end: every step lies between start and
        # target, so inside any range that holds both.
        low, high = sorted((self.start_value, self.target))
        return min(max(value, low), high)


def check_target(target: float, value_range: tuple[float, float]) -> None:
    low, high = value_range
    if not (math.isfinite(target) and low <= target <= high):
        raise PlanError(f"target {target} is outside the point's range [{low}, {high}]")


def plan_ramp(start_value: float, target: float, *, max_rise_per_h: float | None,
              max_fall_per_h: float | None, value_range: tuple[float, float],
              rate_fraction: float, ease_s: float, step_s: float) -> RampPlan:
    check_target(target, value_range)
    low, high = value_range
    if not (math.isfinite(start_value) and low <= start_value <= high):
        raise StartError(f"the plant's value {start_value} is outside the point's range "
                         f"[{low}, {high}]: a ramp cannot start there; bring the plant back "
                         "into range at the plant first")
    limit = max_rise_per_h if target >= start_value else max_fall_per_h
    if limit is None or limit <= 0:
        direction = "rise" if target >= start_value else "fall"
        raise PlanError(f"no limit on how fast the point may {direction}; give one in the "
                        "cluster file")
    plan = RampPlan(start_value, target, limit * rate_fraction / 3600.0, ease_s, step_s)
    if plan.duration_s > MAX_RAMP_S:
        # A start value far outside any plausible reading would plan billions of steps.
        raise PlanError(f"a ramp from {start_value:g} to {target:g} would last "
                        f"{plan.duration_s / 86400:.0f} days, more than a year: check the start "
                        "value (current_value, or the last value read back)")
    return plan
