"""Counter-flow plate heat exchanger by the effectiveness-NTU method (domain.md, Physics).

Both sides carry exactly the same power by construction (Q = ε·Cmin·ΔTmax); what a
monitor sees differ only through the temperature dependence of cp and density and
through sensor noise, which is what the power-mismatch check must tolerate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from heatlink.water import heat_capacity_rate_w_per_k

# Below this a side is treated as not flowing: no heat crosses.
MIN_CAPACITY_RATE_W_PER_K = 1.0


@dataclass(frozen=True, slots=True)
class ExchangerState:
    hot_out_c: float
    cold_out_c: float
    power_w: float
    effectiveness: float


def counterflow_effectiveness(ntu: float, cr: float) -> float:
    """ε for a counter-flow exchanger; Cr = 1 is the limit NTU/(1+NTU)."""
    if ntu <= 0.0:
        return 0.0
    if abs(1.0 - cr) < 1e-9:
        return ntu / (1.0 + ntu)
    e = math.exp(-ntu * (1.0 - cr))
    return (1.0 - e) / (1.0 - cr * e)


def capacity_rates_w_per_k(hot_flow_m3_per_h: float, hot_in_c: float,
                           cold_flow_m3_per_h: float, cold_in_c: float) -> tuple[float, float]:
    return (heat_capacity_rate_w_per_k(hot_flow_m3_per_h, hot_in_c),
            heat_capacity_rate_w_per_k(cold_flow_m3_per_h, cold_in_c))


def counterflow(hot_in_c: float, hot_flow_m3_per_h: float, cold_in_c: float,
                cold_flow_m3_per_h: float, ua_w_per_k: float) -> ExchangerState:
    c_hot, c_cold = capacity_rates_w_per_k(hot_flow_m3_per_h, hot_in_c,
                                           cold_flow_m3_per_h, cold_in_c)
    if min(c_hot, c_cold) < MIN_CAPACITY_RATE_W_PER_K:
        return ExchangerState(hot_in_c, cold_in_c, 0.0, 0.0)
    c_min, c_max = min(c_hot, c_cold), max(c_hot, c_cold)
    eff = counterflow_effectiveness(ua_w_per_k / c_min, c_min / c_max)
    power_w = eff * c_min * (hot_in_c - cold_in_c)
    return ExchangerState(hot_in_c - power_w / c_hot, cold_in_c + power_w / c_cold, power_w, eff)


def lmtd_k(hot_in_c: float, hot_out_c: float, cold_in_c: float, cold_out_c: float) -> float:
    """Log-mean temperature difference of a counter-flow exchanger."""
    d1 = hot_in_c - cold_out_c
    d2 = hot_out_c - cold_in_c
    if d1 <= 0.0 or d2 <= 0.0:
        return 0.0
    if abs(d1 - d2) < 1e-9:
        return d1
    return (d1 - d2) / math.log(d1 / d2)


@dataclass
class Fouling:
    """UA falls linearly from clean by ``loss_fraction`` over ``over_s`` from ``start_s``.

    Real fouling is closer to asymptotic, but linear over the window is what a
    monitor's UA trend sees in the first weeks and keeps the ground truth simple.
    """

    loss_fraction: float = 0.0
    over_s: float = 1.0
    start_s: float = 0.0

    def ua_fraction(self, t_s: float) -> float:
        if self.loss_fraction <= 0.0 or t_s <= self.start_s:
            return 1.0
        progress = min((t_s - self.start_s) / self.over_s, 1.0)
        return 1.0 - self.loss_fraction * progress
