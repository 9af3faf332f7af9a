"""Properties of liquid water that depend on temperature, and heat power from them.

Tables from ../shared/domain.md (fresh water at atmospheric pressure). Values between
the points are linear interpolations; outside they are held at the end points, which
keeps a sensor that reads -0.3 °C or 95 °C from producing nonsense.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise

# (temperature °C, specific heat J/(kg·K))
CP_TABLE: tuple[tuple[float, float], ...] = (
    (0.0, 4217.6),
    (10.0, 4192.1),
    (20.0, 4181.8),
    (30.0, 4178.4),
    (60.0, 4184.3),
    (80.0, 4196.3),
    (90.0, 4205.0),
)

# (temperature °C, density kg/m³)
DENSITY_TABLE: tuple[tuple[float, float], ...] = (
    (0.0, 999.84),
    (10.0, 999.70),
    (20.0, 998.21),
    (40.0, 992.2),
    (60.0, 983.2),
    (80.0, 971.8),
)

SEAWATER_DENSITY_KG_PER_M3 = 1025.0
SECONDS_PER_HOUR = 3600.0


# The temperature columns, split once: these functions run for every simulated sample.
_CP_TEMPS = tuple(t for t, _ in CP_TABLE)
_DENSITY_TEMPS = tuple(t for t, _ in DENSITY_TABLE)


def _interpolate(temps: tuple[float, ...], table: tuple[tuple[float, float], ...],
                 temp_c: float) -> float:
    if temp_c <= temps[0]:
        return table[0][1]
    if temp_c >= temps[-1]:
        return table[-1][1]
    i = bisect_right(temps, temp_c)
    (t0, v0), (t1, v1) = table[i - 1], table[i]
    return v0 + (v1 - v0) * (temp_c - t0) / (t1 - t0)


def specific_heat_j_per_kg_k(temp_c: float) -> float:
    """Specific heat capacity of water at ``temp_c``."""
    return _interpolate(_CP_TEMPS, CP_TABLE, temp_c)


def density_kg_per_m3(temp_c: float) -> float:
    """Density of fresh water at ``temp_c``."""
    return _interpolate(_DENSITY_TEMPS, DENSITY_TABLE, temp_c)


def heat_capacity_rate_w_per_k(flow_m3_per_h: float, temp_c: float) -> float:
    """C = ṁ·cp for a volume flow measured at ``temp_c``."""
    mass_flow_kg_per_s = flow_m3_per_h / SECONDS_PER_HOUR * density_kg_per_m3(temp_c)
    return mass_flow_kg_per_s * specific_heat_j_per_kg_k(temp_c)


def heat_power_w(flow_m3_per_h: float, temp_in_c: float, temp_out_c: float) -> float:
    """P = ρ·V̇·cp·(T_in − T_out), properties taken at the mean temperature.

    Positive when the water gives off heat between ``in`` and ``out``.
    """
    mean_c = (temp_in_c + temp_out_c) / 2.0
    return heat_capacity_rate_w_per_k(flow_m3_per_h, mean_c) * (temp_in_c - temp_out_c)


def property_segments() -> list[tuple[float, float, float, float, float, float, float, float]]:
    """The two tables as one piecewise-linear lookup for SQL: rows of (from °C, to °C,
    cp's segment start °C, cp there, cp's slope, and the same three for density).

    Each row keeps the original table segment of each property, so that a query computing
    ``v0 + slope·(T − t0)`` matches :func:`specific_heat_j_per_kg_k` and
    :func:`density_kg_per_m3` to a rounding step; below the first and above the last point
    the rows hold the end values, as the functions do.
    """
    edges = sorted({t for t, _ in CP_TABLE} | {t for t, _ in DENSITY_TABLE})
    bounds = [float("-inf"), *edges, float("inf")]
    rows = []
    for lo, hi in pairwise(bounds):
        rows.append((lo, hi, *_segment(CP_TABLE, lo, hi), *_segment(DENSITY_TABLE, lo, hi)))
    return rows


def _segment(table: tuple[tuple[float, float], ...], lo: float,
             hi: float) -> tuple[float, float, float]:
    if hi <= table[0][0]:
        return (0.0, table[0][1], 0.0)
    if lo >= table[-1][0]:
        return (0.0, table[-1][1], 0.0)
    for (t0, v0), (t1, v1) in pairwise(table):
        if t0 <= lo and hi <= t1:
            return (t0, v0, (v1 - v0) / (t1 - t0))
    raise AssertionError(f"no table segment holds [{lo}, {hi}]")
