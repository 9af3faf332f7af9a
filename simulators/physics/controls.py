"""The recipient's own controls: a mixing valve and a backup heater.

Both are setpoint followers a plant operator (or heatlink's control path) can write.
The mixing valve blends warm exchanger water with cold raw water to the tank's
setpoint (Statkraft, 2016, in domain.md) and can be put in manual with a fixed
position; the heater is a proportional heater with a first-order power lag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def mixed_temp_c(warm_c: float, cold_c: float, warm_share: float) -> float:
    return warm_share * warm_c + (1.0 - warm_share) * cold_c


@dataclass
class MixingValve:
    """Warm share of the inflow (0..1). In auto a PI loop holds the tank at its setpoint."""

    temp_setpoint_c: float
    position: float = 0.5
    manual: bool = False
    kp_per_k: float = 0.4  # synthetic tuning: 0.4 of full travel per kelvin of error
    ti_s: float = 900.0  # synthetic: integral time of the order of the tank's τ/4
    max_speed_per_s: float = 1.0 / 60.0  # a real actuator needs about a minute end to end
    _integral: float = 0.0

    def set_position(self, position: float) -> None:
        """Manual position 0..1; the controller stops moving the valve."""
        self.manual = True
        self.position = min(max(position, 0.0), 1.0)

    def set_temp_setpoint(self, temp_c: float) -> None:
        """Back to auto, holding the tank at ``temp_c``."""
        self.manual = False
        self.temp_setpoint_c = temp_c
        self._integral = self.position  # bumpless transfer

    def initialise(self, warm_c: float, cold_c: float) -> None:
        """Start in steady state: the share that gives the setpoint."""
        span = warm_c - cold_c
        share = (self.temp_setpoint_c - cold_c) / span if span > 0.1 else 1.0
        self.position = self._integral = min(max(share, 0.0), 1.0)

    def step(self, tank_c: float, dt_s: float) -> float:
        if self.manual:
            return self.position
        error_k = self.temp_setpoint_c - tank_c
        # Clamping the integral to the valve's travel is the anti-windup.
        self._integral += self.kp_per_k * error_k * dt_s / self.ti_s
        self._integral = min(max(self._integral, 0.0), 1.0)
        demand = min(max(self._integral + self.kp_per_k * error_k, 0.0), 1.0)
        move = min(max(demand - self.position, -self.max_speed_per_s * dt_s),
                   self.max_speed_per_s * dt_s)
        self.position += move
        return self.position


@dataclass
class BackupHeater:
    """Proportional heater: full power at ``band_k`` below its setpoint, off at it."""

    setpoint_c: float
    max_power_w: float
    band_k: float = 1.0
    time_constant_s: float = 120.0  # synthetic: electric boiler and loop warming up
    power_w: float = 0.0

    def step(self, tank_c: float, dt_s: float) -> float:
        demand = (self.setpoint_c - tank_c) / self.band_k
        target_w = min(max(demand, 0.0), 1.0) * self.max_power_w
        self.power_w = target_w + (self.power_w - target_w) * math.exp(-dt_s / self.time_constant_s)
        return self.power_w


@dataclass
class SupplyTempController:
    """A substation valve: integral action on the primary flow to hold a secondary supply.

    The exchanger answers a flow change at once, so pure integral action is stable and
    leaves no offset.
    """

    setpoint_c: float
    max_flow_m3_per_h: float
    min_flow_m3_per_h: float
    flow_m3_per_h: float
    gain_m3_per_h_per_k_s: float = 0.05  # synthetic tuning

    def step(self, supply_c: float, dt_s: float) -> float:
        self.flow_m3_per_h += self.gain_m3_per_h_per_k_s * (self.setpoint_c - supply_c) * dt_s
        self.flow_m3_per_h = min(max(self.flow_m3_per_h, self.min_flow_m3_per_h),
                                 self.max_flow_m3_per_h)
        return self.flow_m3_per_h
