"""Time until a recipient's own limit is crossed after its supply changes: pure arithmetic.

The heat first travels the pipe (delay V_pipe / V̇), then the tank moves toward a new
steady temperature as a first-order lag (domain.md): T(t) = T∞ + (T0 − T∞)·e^(−t/τ),
τ = V / V̇, so the limit L is reached after τ·ln((T0 − T∞)/(L − T∞)).
"""

from __future__ import annotations

import math


def pipe_delay_s(pipe_volume_m3: float, flow_m3_per_h: float) -> float:
    if flow_m3_per_h <= 0:
        raise ValueError("flow must be positive")
    return pipe_volume_m3 / flow_m3_per_h * 3600.0


def time_to_limit_s(t0_c: float, t_inf_c: float, limit_c: float, tau_s: float) -> float | None:
    """Seconds until a first-order approach from ``t0_c`` toward ``t_inf_c`` crosses
    ``limit_c``: 0 when already past it, None when it never gets there."""
    if tau_s <= 0:
        raise ValueError("tau must be positive")
    if t0_c == t_inf_c:
        return None  # nothing moves
    falling = t_inf_c < t0_c
    if (falling and t0_c <= limit_c) or (not falling and t0_c >= limit_c):
        return 0.0
    # The limit lies beyond the new steady temperature (or it does not move): never crossed.
    if (falling and limit_c <= t_inf_c) or (not falling and limit_c >= t_inf_c):
        return None
    return tau_s * math.log((t0_c - t_inf_c) / (limit_c - t_inf_c))


def time_to_impact_s(*, pipe_volume_m3: float, volume_m3: float, inflow_m3_per_h: float,
                     t0_c: float, t_inf_c: float, limit_c: float) -> float | None:
    """Pipe delay plus the tank's own time to its limit."""
    tau_s = volume_m3 / inflow_m3_per_h * 3600.0
    tank = time_to_limit_s(t0_c, t_inf_c, limit_c, tau_s)
    if tank is None:
        return None
    return pipe_delay_s(pipe_volume_m3, inflow_m3_per_h) + tank
