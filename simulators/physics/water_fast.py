"""The shared water properties (heatlink.water), evaluated faster for the inner loop.

Same tables, same linear interpolation, same results to the last bit; heatlink.water
rebuilds its list of table temperatures on every call, which costs a quarter of a
simulated day's CPU. A test keeps the two identical.
"""

from __future__ import annotations

from bisect import bisect_right

from heatlink.water import CP_TABLE, DENSITY_TABLE, SECONDS_PER_HOUR

_CP_T = tuple(t for t, _ in CP_TABLE)
_CP_V = tuple(v for _, v in CP_TABLE)
_RHO_T = tuple(t for t, _ in DENSITY_TABLE)
_RHO_V = tuple(v for _, v in DENSITY_TABLE)


def _interpolate(temps: tuple[float, ...], values: tuple[float, ...], temp_c: float) -> float:
    if temp_c <= temps[0]:
        return values[0]
    if temp_c >= temps[-1]:
        return values[-1]
    i = bisect_right(temps, temp_c)
    t0, t1, v0, v1 = temps[i - 1], temps[i], values[i - 1], values[i]
    return v0 + (v1 - v0) * (temp_c - t0) / (t1 - t0)


def specific_heat_j_per_kg_k(temp_c: float) -> float:
    return _interpolate(_CP_T, _CP_V, temp_c)


def density_kg_per_m3(temp_c: float) -> float:
    return _interpolate(_RHO_T, _RHO_V, temp_c)


def heat_capacity_rate_w_per_k(flow_m3_per_h: float, temp_c: float) -> float:
    mass_flow_kg_per_s = flow_m3_per_h / SECONDS_PER_HOUR * density_kg_per_m3(temp_c)
    return mass_flow_kg_per_s * specific_heat_j_per_kg_k(temp_c)
