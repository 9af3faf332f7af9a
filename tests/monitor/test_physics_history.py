"""Worked physics cases (tables, one line of why each) and the history's window sums."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heatlink.cluster.rule_spec import BandRule, SupplyDisruptionRule
from heatlink.findings import State
from heatlink.water import heat_power_w
from services.monitor.history import History
from services.monitor.physics import (
    heat_power_kw,
    lmtd_k,
    time_to_limit_first_order_s,
    time_to_limit_from_slope_s,
)
from services.monitor.rules import SeriesRule
from tests.monitor.signals import regular


@pytest.mark.parametrize(("flow", "t_in", "t_out"), [
    (300.0, 30.0, 17.4),  # HX-1 hot side of the synthetic plant
    (1800.0, 25.0, 12.0),  # Elkem Salten: 30 m3/min returned at 25 °C vs 12 °C water
    (500.0, 90.0, 60.0),  # district heating flow and return
    (10.0, -0.3, 0.5),  # below the table: properties held at 0 °C, power negative
])
def test_vectorised_heat_power_matches_the_scalar_one(flow: float, t_in: float,
                                                      t_out: float) -> None:
    got = heat_power_kw(np.array([flow]), np.array([t_in]), np.array([t_out]))[0]
    assert got == pytest.approx(heat_power_w(flow, t_in, t_out) / 1000, rel=1e-12)


def test_salten_is_about_27_mw() -> None:
    # domain.md: 30 m3/min returning at 25 °C is about 27 MW relative to 12 °C water.
    p = heat_power_kw(np.array([1800.0]), np.array([25.0]), np.array([12.0]))[0]
    assert p == pytest.approx(27_000, rel=0.03)


@pytest.mark.parametrize(("hot_in", "hot_out", "cold_in", "cold_out", "expected"), [
    (30.0, 20.0, 10.0, 20.0, 10.0),  # equal terminal differences: LMTD is that difference
    (90.0, 50.0, 40.0, 60.0, (30 - 10) / np.log(3)),  # textbook counter-flow case
    (30.0, 20.0, 10.0, 31.0, np.nan),  # cold leaves hotter than hot enters: not a working HX
])
def test_lmtd(hot_in: float, hot_out: float, cold_in: float, cold_out: float,
              expected: float) -> None:
    got = lmtd_k(*(np.array([x]) for x in (hot_in, hot_out, cold_in, cold_out)))[0]
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(("volume_m3", "inflow_m3_per_min", "start_c", "raw_c", "limit_c",
                          "minutes"), [
    (190, 3, 12, 2, 10, 14.1),  # domain.md: the 190 m3 tank crosses 10 °C after ~14 min
    (1000, 0.5, 12, 2, 10, 446),  # a recirculating loop, τ ≈ 33 h: hours of buffer
    (190, 3, 12, 2, 1, np.inf),  # the raw water never gets below 2 °C
])
def test_first_order_time_to_limit(volume_m3: float, inflow_m3_per_min: float,
                                   start_c: float, raw_c: float, limit_c: float,
                                   minutes: float) -> None:
    tau_s = volume_m3 / inflow_m3_per_min * 60
    got = time_to_limit_first_order_s(np.array([start_c]), np.array([limit_c]),
                                      np.array([raw_c]), np.array([tau_s]))[0] / 60
    assert got == pytest.approx(minutes, rel=0.01)


def test_slope_time_to_limit_picks_the_limit_ahead() -> None:
    got = time_to_limit_from_slope_s(np.array([12.0, 12.0, 12.0]),
                                     np.array([-2 / 3600, 2 / 3600, 0.0]),
                                     np.array([10.0, 10.0, 10.0]),
                                     np.array([16.0, np.nan, 16.0]))
    assert got[0] == pytest.approx(3600)
    assert got[1] == np.inf  # rising toward an absent high limit
    assert got[2] == np.inf


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), window_s=st.floats(60, 1200), n=st.integers(20, 700))
def test_window_slope_equals_least_squares_through_compactions(seed: int, window_s: float,
                                                               n: int) -> None:
    rng = np.random.default_rng(seed)
    t = 1.7e9 + np.cumsum(rng.uniform(1, 20, n))
    v = 50 + rng.normal(0, 1, n) + (t - t[0]) * 1e-3
    history = History(rows=2, capacity=64, keep_s=window_s)
    for start in range(0, n, 16):  # batches of 16 force compactions
        sl = slice(start, start + 16)
        rows = np.zeros(t[sl].size, dtype=np.int64)
        cols = history.append(rows, t[sl], v[sl])
    sums = history.window(np.array([0]), cols[-1:], window_s)
    inside = t >= t[-1] - window_s
    kept = min(inside.sum(), int(sums.n[0]))
    assert sums.n[0] == inside.sum() or sums.n[0] == kept  # capacity may cut a long window
    tt, vv = t[-kept:], v[-kept:]
    if kept >= 2:
        expected = np.polyfit(tt - tt[0], vv, 1)[0]
        assert sums.slope_per_s()[0] == pytest.approx(expected, rel=1e-6, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 80), nan_share=st.floats(0, 0.3))
def test_the_row_by_row_search_finds_what_the_vectorised_one_finds(seed: int, rows: int,
                                                                   nan_share: float) -> None:
    """A few rows are searched one `searchsorted` each, many at once: both give the same
    columns, for repeated times, targets outside the history and NaN targets alike."""
    rng = np.random.default_rng(seed)
    history = History(rows=4, capacity=64, keep_s=1e9)
    for _ in range(3):
        row = np.repeat(np.arange(4), 12)
        steps = rng.choice([0.0, 1.0, 2.5], size=(4, 12))  # 0: a repeated time
        base = np.where(history.length > 0, history.t[np.arange(4), np.maximum(
            history.length - 1, 0)] + history.origin_s + 1, 1.7e9)
        t = (base[:, None] + np.cumsum(steps, axis=1)).ravel()
        history.append(row, t, rng.normal(size=t.size))
    which = rng.integers(0, 4, rows)
    t_abs = 1.7e9 + rng.uniform(-10, 120, rows)
    t_abs[rng.random(rows) < nan_share] = np.nan
    hi = rng.integers(0, history.length[which] + 1)
    t_rel = t_abs - history.origin_s[which]
    assert (history._search_each(which, hi, t_rel, "left").tolist()
            == history._search_vectorised(which, hi, t_rel).tolist())
    few = history.last_col_at_or_before(which[:8], t_abs[:8])
    many = history.last_col_at_or_before(np.tile(which[:8], 5), np.tile(t_abs[:8], 5))
    assert many[:few.size].tolist() == few.tolist()


@pytest.mark.parametrize(("on_delay_s", "off_delay_s", "raised_after_s", "cleared_after_s"), [
    (0, 0, 0, 0),  # no delays: the first sample beyond the limit raises
    (30, 60, 30, 60),  # the example tank band: 30 s to raise, 60 s to clear
    (300, 300, None, None),  # a 2-minute excursion never lasts the 5-minute on-delay
])
def test_band_on_and_off_delays(on_delay_s: float, off_delay_s: float,
                                raised_after_s: float | None,
                                cleared_after_s: float | None) -> None:
    t = regular(1800)
    values = np.full(t.size, 12.0)
    above = (t >= t[0] + 600) & (t < t[0] + 720)  # two minutes at 17 °C
    values[above] = 17.0
    rule = SeriesRule(BandRule(id="b", owner="farm", series="a/b", low=10, high=16,
                               deadband=0.2, on_delay_s=on_delay_s, off_delay_s=off_delay_s,
                               predict_horizon_s=0))
    found = rule.evaluate(t, values).findings
    if raised_after_s is None:
        assert found == ()
        return
    assert [f.state for f in found] == ["high", "ok"]
    assert found[0].ts.timestamp() - (t[0] + 600) == raised_after_s
    assert found[1].ts.timestamp() - (t[0] + 720) == cleared_after_s


def test_disruption_on_a_halved_supply_and_back() -> None:
    t = regular(3600)
    power = np.full(t.size, 8000.0)
    power[(t >= t[0] + 1200) & (t < t[0] + 2400)] = 3000.0
    rule = SeriesRule(SupplyDisruptionRule(id="d", owner="smelter", series="a/p",
                                           max_drop_fraction=0.5, within_s=300,
                                           off_delay_s=120))
    result = rule.evaluate(t, power)
    assert [(f.state, f.ts.timestamp() - t[0]) for f in result.findings] == [
        ("disrupted", 1200), ("ok", 2520)]
    assert result.findings[0].reference_value == 8000.0
    assert result.final == State.OK
