"""A heat source (smelter cooling loop, flue-gas recovery) and what can happen to it.

The source's output is ``nominal × profile(t) × availability × decline``. Availability
is the part that events move: a trip drops it to a small residual within seconds, a
planned stop ramps it down on a schedule, a restart ramps it back up. Decline is the
slow loss of recoverable heat over weeks (a furnace run at lower load, a worn burner).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

SECONDS_PER_DAY = 86_400.0


class SourceMode(StrEnum):
    RUNNING = "running"
    TRIPPED = "tripped"
    RAMPING = "ramping"


def daily_profile(t_day_s: float, amplitude: float, peak_hour: float) -> float:
    """1 + amplitude·cos over a day, highest at ``peak_hour`` (local sim hour)."""
    phase = 2.0 * math.pi * (t_day_s / SECONDS_PER_DAY - peak_hour / 24.0)
    return 1.0 + amplitude * math.cos(phase)


@dataclass
class HeatSource:
    nominal_w: float
    profile_amplitude: float = 0.05
    profile_peak_hour: float = 14.0
    trip_time_constant_s: float = 5.0
    trip_residual_fraction: float = 0.02
    availability: float = 1.0
    mode: SourceMode = SourceMode.RUNNING
    _ramp_target: float = 1.0
    _ramp_rate_per_s: float = 0.0
    _decline_per_s: float = 0.0
    _decline_started_s: float | None = None
    _decline: float = field(default=1.0)
    _trip_floor: float | None = None

    def trip(self, remaining_fraction: float = 0.0) -> None:
        """Heat to near zero within seconds (exponential with ``trip_time_constant_s``), or
        to ``remaining_fraction`` of it when only part of the source trips."""
        self._trip_floor = remaining_fraction if remaining_fraction > 0 else None
        self.mode = SourceMode.TRIPPED

    def ramp_to(self, target: float, ramp_s: float) -> None:
        """Move availability linearly to ``target`` (0..1) over ``ramp_s`` from now."""
        self._ramp_target = min(max(target, 0.0), 1.0)
        span = abs(self._ramp_target - self.availability)
        self._ramp_rate_per_s = span / ramp_s if ramp_s > 0 else math.inf
        self.mode = SourceMode.RAMPING

    def start_decline(self, t_s: float, fraction_per_day: float) -> None:
        self._decline_started_s = t_s
        self._decline_per_s = fraction_per_day / SECONDS_PER_DAY

    def step(self, t_s: float, dt_s: float) -> None:
        match self.mode:
            case SourceMode.TRIPPED:
                floor = self._trip_floor if self._trip_floor is not None \
                    else self.trip_residual_fraction
                decay = math.exp(-dt_s / self.trip_time_constant_s)
                self.availability = floor + (self.availability - floor) * decay
            case SourceMode.RAMPING:
                gap = self._ramp_target - self.availability
                move = self._ramp_rate_per_s * dt_s
                if abs(gap) <= move:
                    self.availability = self._ramp_target
                    self.mode = SourceMode.RUNNING
                else:
                    self.availability += math.copysign(move, gap)
            case SourceMode.RUNNING:
                pass
        if self._decline_started_s is not None:
            elapsed_s = t_s + dt_s - self._decline_started_s
            self._decline = max(0.0, 1.0 - self._decline_per_s * elapsed_s)

    @property
    def load_percent(self) -> float:
        """The source's own operating level in % of rated (a furnace's power setpoint):
        what a trip, a stop or a restart moves. Not the day's swing of the heat it gives
        off, nor a decline of the heat that can be recovered from it: the setpoint holds
        while those move."""
        return 100.0 * self.availability

    def power_w(self, t_day_s: float) -> float:
        profile = daily_profile(t_day_s, self.profile_amplitude, self.profile_peak_hour)
        return self.nominal_w * profile * self.availability * self._decline
