"""A flow-through fish tank (or recirculating loop with make-up) as one well-mixed volume.

    V·dT/dt = V̇·(T_in − T) + (P_heater − UA_loss·(T − T_ambient)) / (ρ·cp)

is linear in T, so for inputs held over a step the exact solution is
T(t+dt) = T_eq + (T − T_eq)·e^(−dt/τ). Stepping with it keeps the model exact at any
step size, and a trip's cooling matches T∞ + (T0 − T∞)·e^(−t/τ) to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from heatlink.water import density_kg_per_m3, specific_heat_j_per_kg_k


@dataclass(frozen=True, slots=True)
class TankInputs:
    inflow_m3_per_h: float
    inflow_temp_c: float
    heater_w: float = 0.0
    ambient_c: float = 5.0


@dataclass
class FishTank:
    volume_m3: float
    temp_c: float
    heat_loss_w_per_k: float = 0.0

    def time_constant_s(self, inflow_m3_per_h: float) -> float:
        return self.volume_m3 / inflow_m3_per_h * 3600.0

    def equilibrium(self, inputs: TankInputs) -> tuple[float, float]:
        """(T_eq °C, τ s) of the linear model for these inputs."""
        rho_cp = density_kg_per_m3(self.temp_c) * specific_heat_j_per_kg_k(self.temp_c)
        flow_m3_per_s = inputs.inflow_m3_per_h / 3600.0
        loss_m3_per_s = self.heat_loss_w_per_k / rho_cp  # heat loss as an equivalent flow
        rate_m3_per_s = flow_m3_per_s + loss_m3_per_s
        if rate_m3_per_s <= 0.0:
            return self.temp_c, math.inf
        source = (flow_m3_per_s * inputs.inflow_temp_c
                  + (inputs.heater_w + self.heat_loss_w_per_k * inputs.ambient_c) / rho_cp)
        return source / rate_m3_per_s, self.volume_m3 / rate_m3_per_s

    def step(self, inputs: TankInputs, dt_s: float) -> float:
        t_eq, tau_s = self.equilibrium(inputs)
        if math.isinf(tau_s):
            if inputs.heater_w:
                rho_cp = density_kg_per_m3(self.temp_c) * specific_heat_j_per_kg_k(self.temp_c)
                self.temp_c += inputs.heater_w * dt_s / (rho_cp * self.volume_m3)
            return self.temp_c
        self.temp_c = t_eq + (self.temp_c - t_eq) * math.exp(-dt_s / tau_s)
        return self.temp_c


def analytic_cooling_c(t_s: float, start_c: float, inflow_c: float, tau_s: float) -> float:
    """T∞ + (T0 − T∞)·e^(−t/τ): the reference a tank after a trip must follow."""
    return inflow_c + (start_c - inflow_c) * math.exp(-t_s / tau_s)


def time_to_limit_s(start_c: float, inflow_c: float, limit_c: float, tau_s: float) -> float:
    """τ·ln((T0 − T∞)/(L − T∞)); infinite when the limit is never reached."""
    if (limit_c - inflow_c) * (start_c - inflow_c) <= 0 or abs(limit_c - inflow_c) >= abs(
            start_c - inflow_c):
        return math.inf
    return tau_s * math.log((start_c - inflow_c) / (limit_c - inflow_c))
