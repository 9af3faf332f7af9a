"""The tank's time to its minimum while its supply ramps down (a planned stop)."""

from __future__ import annotations

import numpy as np
import pytest

from services.monitor.signal_rules import tank_time_to_low_s


def _euler_s(tank_c: float, low: float, supply_c: float, rate: float, floor_c: float,
             tau_s: float) -> float:
    """The same recipient stepped a second at a time: held while the supply is warmer,
    then moving toward the supply with time constant τ."""
    t, temp, sup = 0.0, tank_c, supply_c
    while temp > low and t < 100_000:
        sup = max(sup + rate, floor_c)
        temp += (min(sup, tank_c) - temp) / tau_s if sup < temp or temp < tank_c else 0.0
        t += 1.0
    return t if temp <= low else np.inf


@pytest.mark.parametrize(("tank_c", "low", "supply_c", "rate", "floor_c", "tau_s"), [
    (12.0, 10.0, 19.4, -0.0049, 2.0, 3800.0),  # the planned stop: an hour's ramp-down
    (12.0, 10.0, 19.4, -0.05, 2.0, 3800.0),    # a fast ramp: crossing near the floor's decay
    (12.0, 10.0, 11.0, -0.002, 2.0, 3800.0),   # the supply already below the tank
    (12.0, 10.0, 19.4, -0.0049, 10.5, 3800.0),  # the supply settles above the limit: never
])
def test_the_time_to_low_matches_the_recipient_stepped_through(
        tank_c: float, low: float, supply_c: float, rate: float, floor_c: float,
        tau_s: float) -> None:
    got = tank_time_to_low_s(np.array([tank_c]), np.array([low]), np.array([supply_c]),
                             np.array([rate]), np.array([floor_c]), tau_s)[0]
    want = _euler_s(tank_c, low, supply_c, rate, floor_c, tau_s)
    if not np.isfinite(want):
        assert not np.isfinite(got)
    else:
        assert got == pytest.approx(want, rel=0.02)


def test_no_ramp_down_gives_no_time() -> None:
    got = tank_time_to_low_s(np.array([12.0]), np.array([10.0]), np.array([19.0]),
                             np.array([0.0]), np.array([np.nan]), 3800.0)
    assert not np.isfinite(got[0])
