"""Properties of the exchanger and tank models over their whole operating range."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heatlink.water import heat_power_w
from simulators.physics import FishTank, TankInputs, analytic_cooling_c, counterflow

temps = st.floats(min_value=0.0, max_value=120.0)
flows = st.floats(min_value=1.0, max_value=3000.0)
uas = st.floats(min_value=1_000.0, max_value=3_000_000.0)


@settings(max_examples=300, deadline=None)
@given(hot_in=temps, cold_in=temps, hot_flow=flows, cold_flow=flows, ua=uas)
def test_exchanger_is_bounded_and_balanced(hot_in: float, cold_in: float, hot_flow: float,
                                           cold_flow: float, ua: float) -> None:
    state = counterflow(hot_in, hot_flow, cold_in, cold_flow, ua)
    assert 0.0 <= state.effectiveness <= 1.0
    low, high = min(hot_in, cold_in), max(hot_in, cold_in)
    tol = 1e-9
    assert low - tol <= state.hot_out_c <= high + tol
    assert low - tol <= state.cold_out_c <= high + tol
    # Heat flows from hot to cold, never the other way.
    assert (state.power_w >= 0) == (hot_in >= cold_in) or state.power_w == 0
    if abs(state.power_w) > 1_000.0:
        hot_w = heat_power_w(hot_flow, hot_in, state.hot_out_c)
        cold_w = -heat_power_w(cold_flow, cold_in, state.cold_out_c)
        # cp and ρ at the inlet (model) against the mean temperature (meter): ≤ 3 %.
        assert hot_w == pytest.approx(state.power_w, rel=0.03)
        assert cold_w == pytest.approx(state.power_w, rel=0.03)


@settings(max_examples=200, deadline=None)
@given(start=st.floats(min_value=0.0, max_value=30.0),
       inflow_c=st.floats(min_value=0.0, max_value=30.0),
       volume=st.floats(min_value=10.0, max_value=2_000.0),
       inflow=st.floats(min_value=1.0, max_value=1_000.0),
       dt_s=st.sampled_from([1.0, 2.0, 10.0, 60.0]))
def test_tank_is_exact_at_any_step(start: float, inflow_c: float, volume: float,
                                   inflow: float, dt_s: float) -> None:
    tank = FishTank(volume, start)
    tau_s = tank.time_constant_s(inflow)
    inputs = TankInputs(inflow, inflow_c)
    for k in range(1, 101):
        tank.step(inputs, dt_s)
        assert tank.temp_c == pytest.approx(
            analytic_cooling_c(k * dt_s, start, inflow_c, tau_s), abs=1e-9)
