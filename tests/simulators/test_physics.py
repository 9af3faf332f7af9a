"""Worked physics cases for the simulator's models."""

from __future__ import annotations

import math

import pytest

from heatlink.water import heat_power_w
from simulators.physics import (
    FishTank,
    Pipe,
    Sensor,
    SensorSpec,
    TankInputs,
    analytic_cooling_c,
    counterflow,
    lmtd_k,
    time_to_limit_s,
)
from simulators.physics.source import HeatSource, SourceMode


@pytest.mark.parametrize(
    ("hot_in_c", "hot_flow", "cold_in_c", "cold_flow", "ua_w_per_k"),
    [
        (34.0, 500.0, 2.0, 350.0, 400_000.0),  # Glomfjord HX-1 at its design point
        (110.0, 400.0, 52.0, 480.0, 1_500_000.0),  # Mo HX-2, flue-gas loop to district heat
        (90.0, 20.0, 35.0, 50.0, 120_000.0),  # greenhouse substation HX-3
        (34.0, 500.0, 2.0, 350.0, 280_000.0),  # HX-1 fouled to 70 % of its clean UA
        (60.0, 100.0, 10.0, 100.0, 50_000.0),  # balanced flows, Cr = 1
    ],
)
def test_both_exchanger_sides_carry_the_same_power(hot_in_c: float, hot_flow: float,
                                                   cold_in_c: float, cold_flow: float,
                                                   ua_w_per_k: float) -> None:
    state = counterflow(hot_in_c, hot_flow, cold_in_c, cold_flow, ua_w_per_k)
    hot_w = heat_power_w(hot_flow, hot_in_c, state.hot_out_c)
    cold_w = -heat_power_w(cold_flow, cold_in_c, state.cold_out_c)
    # Exact in the model; what differs is cp and ρ taken at inlet vs mean temperature.
    assert hot_w == pytest.approx(state.power_w, rel=0.01)
    assert cold_w == pytest.approx(state.power_w, rel=0.01)
    # UA measured as Q/LMTD gives back the model's UA (what the health rule computes).
    lmtd = lmtd_k(hot_in_c, state.hot_out_c, cold_in_c, state.cold_out_c)
    assert state.power_w / lmtd == pytest.approx(ua_w_per_k, rel=0.02)


def test_tank_cooling_after_a_trip_follows_the_first_order_solution() -> None:
    # domain.md: 190 m³ at 3 m³/min (τ = 63 min), 12 °C falling toward 2 °C raw water.
    tank = FishTank(volume_m3=190.0, temp_c=12.0)
    inputs = TankInputs(inflow_m3_per_h=180.0, inflow_temp_c=2.0)
    tau_s = tank.time_constant_s(180.0)
    assert tau_s / 60 == pytest.approx(63.3, abs=0.1)
    crossed_s = None
    for step in range(1, 2 * 3600 // 10 + 1):
        tank.step(inputs, 10.0)
        t_s = step * 10.0
        expected = analytic_cooling_c(t_s, 12.0, 2.0, tau_s)
        assert tank.temp_c == pytest.approx(expected, rel=0.01)
        if crossed_s is None and tank.temp_c < 10.0:
            crossed_s = t_s
    # "starts at about 9.5 K/h and crosses 10 °C after about 14 minutes"
    assert (12.0 - 2.0) / tau_s * 3600 == pytest.approx(9.5, abs=0.1)
    assert crossed_s is not None
    assert crossed_s == pytest.approx(time_to_limit_s(12.0, 2.0, 10.0, tau_s), abs=10.0)
    assert 13 * 60 < crossed_s < 15 * 60


def test_a_pipe_delays_by_volume_over_flow() -> None:
    pipe = Pipe(volume_m3=15.0, initial_temp_c=20.0)
    assert pipe.delay_s(350.0) == pytest.approx(154.3, abs=0.1)
    outlet = [pipe.push(5.0, 350.0, 1.0) for _ in range(200)]
    first_cold_s = next(i for i, t in enumerate(outlet) if t == 5.0)
    assert first_cold_s == pytest.approx(154, abs=2)


def test_a_trip_takes_heat_to_near_zero_within_seconds() -> None:
    source = HeatSource(nominal_w=7e6, profile_amplitude=0.0)
    source.trip()
    for t in range(30):
        source.step(float(t), 1.0)
    assert source.power_w(0.0) < 0.03 * 7e6
    source.ramp_to(1.0, 1800.0)
    for t in range(900):
        source.step(30.0 + t, 1.0)
    assert source.power_w(0.0) == pytest.approx(0.5 * 7e6, rel=0.05)
    for t in range(901):
        source.step(930.0 + t, 1.0)
    assert source.mode is SourceMode.RUNNING


def test_pt100_noise_has_its_standard_deviation_and_quantum() -> None:
    sensor = Sensor("t", SensorSpec(noise_sd=0.05, quantum=0.01), seed=7)
    values = []
    for _ in range(4000):
        sample = sensor.sample(12.0)
        assert sample is not None
        values.append(sample.value)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    assert sd == pytest.approx(0.05, rel=0.1)
    assert all(abs(v * 100 - round(v * 100)) < 1e-6 for v in values)


def test_faults_of_a_sensor() -> None:
    spec = SensorSpec(dropout_probability=0.2, spike_probability=0.05, spike_size=5.0,
                      spike_flagged=True, low=-2.0, high=35.0)
    sensor = Sensor("t", spec, seed=3)
    samples = [sensor.sample(12.0) for _ in range(2000)]
    dropped = sum(s is None for s in samples)
    assert 300 < dropped < 500
    spikes = [s for s in samples if s is not None and s.quality == "uncertain"]
    assert spikes
    assert all(abs(s.value - 12.0) == pytest.approx(5.0) for s in spikes)
    out_of_range = Sensor("x", SensorSpec(low=-2.0, high=35.0), seed=1).sample(40.0)
    assert out_of_range is not None
    assert out_of_range.quality == "bad"
    sensor.stick(0.0)
    frozen = {s.value for s in (sensor.sample(t) for t in (1.0, 20.0, 30.0)) if s is not None}
    assert len(frozen) == 1
