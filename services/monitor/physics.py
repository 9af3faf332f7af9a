"""Vectorised heat physics for the monitor: power, exchanger UA, time to a limit.

Same tables and conventions as `heatlink.water` (whose scalar functions the tests compare
against); np.interp holds the end points like the scalar version does.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from heatlink.water import CP_TABLE, DENSITY_TABLE, SECONDS_PER_HOUR

F64 = NDArray[np.float64]

_CP_T = np.array([t for t, _ in CP_TABLE])
_CP_V = np.array([v for _, v in CP_TABLE])
_RHO_T = np.array([t for t, _ in DENSITY_TABLE])
_RHO_V = np.array([v for _, v in DENSITY_TABLE])


def heat_power_kw(flow_m3_per_h: F64, temp_in_c: F64, temp_out_c: F64) -> F64:
    """P = ρ·V̇·cp·(T_in − T_out) in kW, properties at the mean temperature.

    Positive when the water gives off heat between ``in`` and ``out``.
    """
    mean_c = (temp_in_c + temp_out_c) / 2.0
    rho = np.interp(mean_c, _RHO_T, _RHO_V)
    cp = np.interp(mean_c, _CP_T, _CP_V)
    power_kw: F64 = flow_m3_per_h / SECONDS_PER_HOUR * rho * cp * (temp_in_c - temp_out_c) / 1000
    return power_kw


def lmtd_k(hot_in_c: F64, hot_out_c: F64, cold_in_c: F64, cold_out_c: F64) -> F64:
    """Log-mean temperature difference of a counter-flow exchanger; NaN when a terminal
    difference is not positive (the measurement is not a working exchanger)."""
    dt1 = hot_in_c - cold_out_c
    dt2 = hot_out_c - cold_in_c
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = dt1 / dt2
        out = (dt1 - dt2) / np.log(ratio)
    # Equal terminal differences: the limit of the formula is the difference itself.
    out = np.where(np.abs(dt1 - dt2) < 1e-6 * np.maximum(np.abs(dt1), 1e-9), dt1, out)
    return np.where((dt1 > 0) & (dt2 > 0), out, np.nan)


def time_to_limit_from_slope_s(value: F64, slope_per_s: F64, low: F64, high: F64) -> F64:
    """Seconds until a straight line from ``value`` with ``slope_per_s`` meets the limit it
    heads for; inf when it heads for none (or that limit is absent, NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        to_high = np.where(slope_per_s > 0, (high - value) / slope_per_s, np.inf)
        to_low = np.where(slope_per_s < 0, (low - value) / slope_per_s, np.inf)
    to_high = np.where(np.isnan(to_high) | (to_high < 0), np.inf, to_high)
    to_low = np.where(np.isnan(to_low) | (to_low < 0), np.inf, to_low)
    return np.minimum(to_high, to_low)


def time_to_limit_first_order_s(value: F64, limit: F64, final_value: F64, tau_s: F64) -> F64:
    """Seconds until T(t) = T∞ + (T0 − T∞)·e^(−t/τ) reaches ``limit``; inf when it never does.

    τ·ln((T0 − T∞)/(L − T∞)), valid when the limit lies between T0 and T∞.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (value - final_value) / (limit - final_value)
        out = tau_s * np.log(ratio)
    return np.where((ratio >= 1.0) & np.isfinite(out), out, np.inf)
