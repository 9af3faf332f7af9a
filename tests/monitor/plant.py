"""A small synthetic Glomfjord (smelter HX-1 feeding smolt tank T-1) for engine tests.

Physics from ../shared/domain.md: a counter-flow exchanger by ε-NTU, and the tank as a
first-order flow-through volume (τ = V/V̇) falling toward raw water when heat is lost.
Figures not in domain.md (flows, temperatures) are synthetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from heatlink.water import heat_capacity_rate_w_per_k

F64 = NDArray[np.float64]
HX = "glomfjord/smelter/hx1"
TANK = "glomfjord/smoltfarm/tank1/temp"
HOT_FLOW_M3_PER_H = 300.0
COLD_FLOW_M3_PER_H = 400.0
HOT_IN_C = 30.0
COLD_IN_C = 8.0
TANK_C = 12.0
RAW_WATER_C = 2.0
TAU_TANK_S = 190.0 / 180.0 * 3600.0  # the example cluster's thermal model


@dataclass(frozen=True)
class PlantRun:
    t_s: F64
    series: dict[str, F64]
    trip_s: float | None
    tank_crosses_low_s: float | None  # ground truth: tank temp first below 10 °C

    def readings(self) -> tuple[list[str], F64, F64]:
        """Flattened in time order: keys, times, values."""
        keys = list(self.series)
        k = np.repeat(np.arange(len(keys)), self.t_s.size)
        t = np.tile(self.t_s, len(keys))
        v = np.concatenate([self.series[key] for key in keys])
        order = np.argsort(t, kind="stable")
        return [keys[i] for i in k[order]], t[order], v[order]


def exchanger(ua_w_per_k: F64, hot_flow: F64, cold_flow: F64, hot_in: F64,
              cold_in: F64) -> tuple[F64, F64]:
    """Outlet temperatures (hot out, cold out) of a counter-flow exchanger."""
    c_hot = hot_flow * heat_capacity_rate_w_per_k(1.0, 30.0)
    c_cold = cold_flow * heat_capacity_rate_w_per_k(1.0, 10.0)
    c_min, c_max = np.minimum(c_hot, c_cold), np.maximum(c_hot, c_cold)
    with np.errstate(divide="ignore", invalid="ignore"):
        cr = c_min / c_max
        ntu = ua_w_per_k / c_min
        e = np.exp(-ntu * (1 - cr))
        eff = (1 - e) / (1 - cr * e)
        q = np.nan_to_num(eff * c_min * (hot_in - cold_in))
        return hot_in - np.nan_to_num(q / c_hot), cold_in + np.nan_to_num(q / c_cold)


def glomfjord(duration_s: float, *, step_s: float = 10.0, trip_s: float | None = None,
              ua_fraction: Callable[[F64], F64] | None = None, seed: int = 1,
              noise_k: float = 0.05, start_s: float = 1.7e9) -> PlantRun:
    rng = np.random.default_rng(seed)
    t = start_s + np.arange(0.0, duration_s, step_s)
    rel = t - start_s
    ua = 400_000.0 * (ua_fraction(rel) if ua_fraction else np.ones_like(rel))
    hot_flow = np.full_like(rel, HOT_FLOW_M3_PER_H)
    tank = np.full_like(rel, TANK_C)
    crosses = None
    if trip_s is not None:
        hot_flow = np.where(rel >= trip_s, 0.0, hot_flow)
        after = np.maximum(rel - trip_s, 0.0)
        tank = np.where(rel >= trip_s, RAW_WATER_C + (TANK_C - RAW_WATER_C) *
                        np.exp(-after / TAU_TANK_S), tank)
        crosses = start_s + trip_s + TAU_TANK_S * np.log((TANK_C - RAW_WATER_C) /
                                                          (10.0 - RAW_WATER_C))
    cold_flow = np.full_like(rel, COLD_FLOW_M3_PER_H)
    hot_out, cold_out = exchanger(ua, hot_flow, cold_flow, np.full_like(rel, HOT_IN_C),
                                  np.full_like(rel, COLD_IN_C))
    if trip_s is not None:  # the pipe's water keeps its heat a while after the trip
        lag = np.exp(-np.maximum(rel - trip_s, 0.0) / 120.0)
        cold_out = np.where(rel >= trip_s, COLD_IN_C + (cold_out[0] - COLD_IN_C) * lag,
                            cold_out)

    def noisy(x: F64, sigma: float) -> F64:
        return x + rng.normal(0.0, sigma, x.size)

    series = {
        f"{HX}/primary/flow": noisy(hot_flow, 0.5),
        f"{HX}/primary/supply_temp": noisy(np.full_like(rel, HOT_IN_C), noise_k),
        f"{HX}/primary/return_temp": noisy(hot_out, noise_k),
        f"{HX}/secondary/flow": noisy(cold_flow, 0.5),
        f"{HX}/secondary/return_temp": noisy(np.full_like(rel, COLD_IN_C), noise_k),
        f"{HX}/secondary/supply_temp": noisy(cold_out, noise_k),
        TANK: noisy(tank, noise_k),
    }
    return PlantRun(t, series, None if trip_s is None else start_s + trip_s, crosses)
