"""A supplier's closed cooling (or recovery) loop between its heat source and an exchanger.

The loop water is one lumped mass at the exchanger's hot inlet temperature T:

    M·cp·dT/dt = P_source − ε·Cmin·(T − T_cold_in)

With the exchanger's ε·Cmin and the inputs held over a step this is linear in T, so
it is stepped exactly. The loop's mass is why the hot side cools over minutes after
a trip, not in the seconds it takes the furnace's heat to vanish.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from heatlink.water import density_kg_per_m3, specific_heat_j_per_kg_k
from simulators.physics.exchanger import ExchangerState, counterflow


@dataclass
class SourceLoop:
    volume_m3: float
    flow_m3_per_h: float
    supply_c: float  # water entering the exchanger's hot side
    ua_w_per_k: float

    def step(self, source_w: float, cold_in_c: float, cold_flow_m3_per_h: float,
             ua_w_per_k: float, dt_s: float) -> ExchangerState:
        """Advance the loop; return the exchanger's state at the end of the step."""
        self.ua_w_per_k = ua_w_per_k
        now = counterflow(self.supply_c, self.flow_m3_per_h, cold_in_c, cold_flow_m3_per_h,
                          ua_w_per_k)
        mass_cp_j_per_k = (self.volume_m3 * density_kg_per_m3(self.supply_c)
                           * specific_heat_j_per_kg_k(self.supply_c))
        span_k = self.supply_c - cold_in_c
        # Power taken by the exchanger per kelvin of inlet difference: ε·Cmin.
        k_w_per_k = now.power_w / span_k if abs(span_k) > 1e-6 else 0.0
        if k_w_per_k <= 0.0:
            self.supply_c += source_w * dt_s / mass_cp_j_per_k
        else:
            eq_c = cold_in_c + source_w / k_w_per_k
            self.supply_c = eq_c + (self.supply_c - eq_c) * math.exp(
                -dt_s * k_w_per_k / mass_cp_j_per_k)
        return counterflow(self.supply_c, self.flow_m3_per_h, cold_in_c, cold_flow_m3_per_h,
                           ua_w_per_k)

    def settle(self, source_w: float, cold_in_c: float, cold_flow_m3_per_h: float) -> None:
        """Jump to the steady state for these inputs (used to start a run warm)."""
        for _ in range(50):
            state = counterflow(self.supply_c, self.flow_m3_per_h, cold_in_c,
                                cold_flow_m3_per_h, self.ua_w_per_k)
            span_k = self.supply_c - cold_in_c
            if state.power_w <= 0.0 or span_k <= 0.0:
                self.supply_c = cold_in_c + 10.0
                continue
            self.supply_c = cold_in_c + source_w / (state.power_w / span_k)
