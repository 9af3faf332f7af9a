"""Recipients with daily load profiles: a district heating network and a greenhouse.

District heating (Mo Fjernvarme in domain.md): the network's water is one lumped mass
whose temperature is the return to the recovery exchanger; consumers take a load that
follows the day; reserve boilers hold the supply at its minimum (85 °C) and a dump
cooler caps it, as the regulator's 100 % backup requires.

Greenhouse: air and structure as one thermal mass heated by a pipe loop from a
substation exchanger, losing heat to the outdoor air, gaining sun by day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from heatlink.water import heat_capacity_rate_w_per_k
from simulators.physics.source import SECONDS_PER_DAY


def outdoor_temp_c(t_day_s: float, mean_c: float, amplitude_k: float) -> float:
    """Coldest at 05:00, warmest at 15:00 (sim local hours)."""
    return mean_c + amplitude_k * math.cos(2.0 * math.pi * (t_day_s / SECONDS_PER_DAY - 15 / 24))


def district_load_fraction(t_day_s: float) -> float:
    """Synthetic daily shape: morning peak at 07:00, evening peak at 18:00, night dip."""
    hour = t_day_s / 3600.0 % 24.0
    morning = 0.12 * math.exp(-(((hour - 7.0) / 1.5) ** 2))
    evening = 0.08 * math.exp(-(((hour - 18.0) / 2.0) ** 2))
    night = -0.10 * math.exp(-(((hour - 3.0) / 2.5) ** 2))
    return 1.0 + morning + evening + night


@dataclass
class DistrictHeating:
    volume_m3: float
    flow_m3_per_h: float
    base_load_w: float
    supply_min_c: float
    supply_max_c: float
    reserve_boiler_max_w: float
    return_c: float
    supply_c: float = 0.0
    boiler_w: float = 0.0
    load_w: float = 0.0

    def step(self, recovered_supply_c: float, t_day_s: float, dt_s: float,
             extra_load_w: float = 0.0) -> float:
        """Network supply from the recovery exchanger's outlet; returns the return temp."""
        c_w_per_k = heat_capacity_rate_w_per_k(self.flow_m3_per_h, recovered_supply_c)
        supply_c = recovered_supply_c
        self.boiler_w = 0.0
        if supply_c < self.supply_min_c:
            self.boiler_w = min((self.supply_min_c - supply_c) * c_w_per_k,
                                self.reserve_boiler_max_w)
            supply_c += self.boiler_w / c_w_per_k
        self.supply_c = min(supply_c, self.supply_max_c)  # dump cooler
        self.load_w = self.base_load_w * district_load_fraction(t_day_s) + extra_load_w
        # Lumped network: dT/dt = (C·(T_supply − T) − load)/(M·cp); M·cp ≈ V·ρcp ≈ V·C/flow.
        tau_s = self.volume_m3 / self.flow_m3_per_h * 3600.0
        eq_c = self.supply_c - self.load_w / c_w_per_k
        self.return_c = eq_c + (self.return_c - eq_c) * math.exp(-dt_s / tau_s)
        return self.return_c


@dataclass
class Greenhouse:
    air_c: float
    heat_capacity_j_per_k: float
    loss_w_per_k: float
    emitter_w_per_k: float
    max_loop_flow_m3_per_h: float
    setpoint_day_c: float
    setpoint_night_c: float
    outdoor_mean_c: float
    outdoor_amplitude_k: float
    solar_peak_w: float
    loop_supply_c: float = 50.0
    loop_return_c: float = 40.0
    loop_flow_m3_per_h: float = -1.0  # below zero: start at full flow

    def __post_init__(self) -> None:
        if self.loop_flow_m3_per_h < 0.0:
            self.loop_flow_m3_per_h = self.max_loop_flow_m3_per_h

    def setpoint_c(self, t_day_s: float) -> float:
        hour = t_day_s / 3600.0 % 24.0
        return self.setpoint_day_c if 6.0 <= hour < 22.0 else self.setpoint_night_c

    def solar_w(self, t_day_s: float) -> float:
        hour = t_day_s / 3600.0 % 24.0
        if not 9.0 <= hour <= 15.0:  # a northern winter's short day
            return 0.0
        return self.solar_peak_w * math.sin(math.pi * (hour - 9.0) / 6.0)

    def emitted_w(self, loop_supply_c: float) -> float:
        """Pipe-loop emitter as an exchanger with the air: Q = C·(1 − e^(−k/C))·(Ts − Ta).

        The exponential form keeps the loop's return above the air temperature even
        when the pump runs slowly.
        """
        if self.loop_flow_m3_per_h <= 0.0:
            return 0.0
        c_loop = heat_capacity_rate_w_per_k(self.loop_flow_m3_per_h, loop_supply_c)
        effectiveness = 1.0 - math.exp(-self.emitter_w_per_k / c_loop)
        return max(c_loop * effectiveness * (loop_supply_c - self.air_c), 0.0)

    def step(self, loop_supply_c: float, t_day_s: float, dt_s: float) -> float:
        heat_w = self.emitted_w(loop_supply_c)
        c_loop = heat_capacity_rate_w_per_k(self.loop_flow_m3_per_h, loop_supply_c)
        self.loop_supply_c = loop_supply_c
        self.loop_return_c = loop_supply_c - heat_w / c_loop
        outdoor_c = outdoor_temp_c(t_day_s, self.outdoor_mean_c, self.outdoor_amplitude_k)
        gain_w = heat_w + self.solar_w(t_day_s)
        eq_c = outdoor_c + gain_w / self.loss_w_per_k
        tau_s = self.heat_capacity_j_per_k / self.loss_w_per_k
        self.air_c = eq_c + (self.air_c - eq_c) * math.exp(-dt_s / tau_s)
        return self.air_c

    def set_loop_flow(self, t_day_s: float, dt_s: float) -> float:
        """Heating-loop pump: proportional on air temperature, 2 K band, 20 % minimum.

        The pump changes speed over about ten minutes end to end, so that the substation
        can follow when the night setpoint starts.
        """
        error_k = self.setpoint_c(t_day_s) - self.air_c
        target = self.max_loop_flow_m3_per_h * min(max(0.5 + error_k / 2.0, 0.2), 1.0)
        max_move = self.max_loop_flow_m3_per_h / 600.0 * dt_s
        self.loop_flow_m3_per_h += min(max(target - self.loop_flow_m3_per_h, -max_move), max_move)
        return self.loop_flow_m3_per_h
