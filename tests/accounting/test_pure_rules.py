"""The pure parts of accounting: EN 1434 errors (worked cases and properties), register
steps, substitution with its cap, availability and reconciliation verdicts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heatlink.cluster.metering import SubstitutionRule, SubstitutionStep
from services.accounting.availability import AVAILABLE, DISRUPTED, MAINTENANCE, classify
from services.accounting.reconcile import AGREED, DISPUTED, verdict
from services.accounting.register import RESET, ROLLOVER, HourSums, Step, register_hours
from services.accounting.substitution import fill
from services.accounting.uncertainty import (
    LOW_DTHETA,
    LOW_FLOW,
    flow_sensor_mpe_pct,
    heat_meter_error,
)
from tests.accounting.support import utc

H = timedelta(hours=1)
T0 = utc(2026, 3, 1)


@pytest.mark.parametrize(("meter_class", "q", "dtheta", "expected"), [
    (2, 100.0, 5.0, 5.42),   # domain.md: class 2 at q = qp, ΔΘ = 5 K, ΔΘmin = 3 K
    (2, 100.0, 20.0, 3.62),  # domain.md: the same at ΔΘ = 20 K
    (1, 100.0, 30.0, 2.41),  # class 1: 1.01 + 0.8 + 0.6
    (3, 10.0, 3.0, 8.5),     # class 3 at q = qi: flow part 3.5, pair 3.5, calculator 1.5
])
def test_worked_maximum_permissible_errors(meter_class: int, q: float, dtheta: float,
                                           expected: float) -> None:
    error = heat_meter_error(meter_class, 100.0, 10.0, 3.0, q, dtheta)
    assert error.pct == pytest.approx(expected, abs=0.005)
    assert error.flags == ()


def test_flags_below_qi_and_below_dtheta_min() -> None:
    error = heat_meter_error(2, 100.0, 10.0, 3.0, 5.0, 2.0)
    assert error.flags == (LOW_FLOW, LOW_DTHETA)
    assert error.pct > heat_meter_error(2, 100.0, 10.0, 3.0, 10.0, 3.0).pct


@given(st.sampled_from([1, 2, 3]), st.floats(1, 1000), st.floats(0.01, 5000),
       st.floats(0.01, 5000))
def test_the_flow_sensor_error_is_capped_and_falls_as_flow_rises(
        meter_class: int, qp: float, q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    assert flow_sensor_mpe_pct(meter_class, qp, high) <= flow_sensor_mpe_pct(
        meter_class, qp, low) <= 5.0
    assert flow_sensor_mpe_pct(meter_class, qp, high) >= meter_class


@given(st.sampled_from([1, 2, 3]), st.floats(1, 100), st.floats(0.5, 200),
       st.floats(0.1, 100), st.floats(0.1, 100))
def test_the_meter_error_falls_as_the_temperature_difference_rises(
        meter_class: int, qp: float, q: float, d1: float, d2: float) -> None:
    small, large = sorted((d1, d2))
    e_small = heat_meter_error(meter_class, qp, qp / 10, 3.0, q, small)
    e_large = heat_meter_error(meter_class, qp, qp / 10, 3.0, q, large)
    assert e_large.pct <= e_small.pct
    assert e_large.pct >= meter_class + 1.0  # flow constant plus the two 0.5 terms


@given(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 10), st.floats(0, 10))
def test_reconciliation_is_symmetric(a: float, b: float, ea: float, eb: float) -> None:
    assert verdict(a, ea, b, eb) == verdict(b, eb, a, ea)


def test_two_meters_agree_inside_their_combined_error() -> None:
    assert verdict(100.0, 3.0, 105.0, 3.0) == AGREED
    assert verdict(100.0, 3.0, 107.0, 3.0) == DISPUTED
    assert verdict(0.0, 0.0, 0.0, 0.0) == AGREED


def test_a_step_over_an_hour_boundary_is_split_by_time() -> None:
    sums = [HourSums(T0 + H, 0.0, 0.0, (Step(T0 + 50 * timedelta(minutes=1), 100.0,
                                              T0 + 70 * timedelta(minutes=1), 120.0),))]
    out = register_hours(sums, [T0, T0 + H], None, max_step_s=1800.0)
    assert out[T0].amount == pytest.approx(10.0)
    assert out[T0 + H].amount == pytest.approx(10.0)


def test_a_fall_near_the_wrap_value_is_a_rollover_else_a_reset() -> None:
    wrap = [HourSums(T0, 0.0, 0.0, (Step(T0, 99_999_990.0, T0 + timedelta(minutes=1), 5.0),))]
    reset = [HourSums(T0, 0.0, 0.0, (Step(T0, 5_000_000.0, T0 + timedelta(minutes=1), 2.0),))]
    assert register_hours(wrap, [T0], 1e8, 900.0)[T0].amount == pytest.approx(15.0)
    assert ROLLOVER in register_hours(wrap, [T0], 1e8, 900.0)[T0].flags
    assert register_hours(reset, [T0], 1e8, 900.0)[T0].amount == pytest.approx(2.0)
    assert RESET in register_hours(reset, [T0], 1e8, 900.0)[T0].flags


def test_substitution_stops_at_the_cap_and_says_so() -> None:
    hours = [T0 + i * H for i in range(10)]
    billing = {h: (None if i >= 5 else 10.0) for i, h in enumerate(hours)}
    other = dict.fromkeys(hours, 11.0)
    rule = SubstitutionRule(methods=[SubstitutionStep(method="other_meter")],
                            max_substituted_share=0.2)
    filled = fill(hours, billing, other, rule, 3, month_hours=10)
    assert [h for h in hours if h in filled.values] == hours[5:7]
    assert filled.values[hours[5]].rule_version == 3
    assert filled.missing == tuple(hours[7:])
    assert filled.cap_reached


def test_linear_substitution_only_bridges_short_gaps() -> None:
    hours = [T0 + i * H for i in range(8)]
    values = [10.0, None, None, 40.0, None, None, None, None]
    rule = SubstitutionRule(methods=[SubstitutionStep(method="linear", max_hours=2)])
    filled = fill(hours, dict(zip(hours, values, strict=True)), {}, rule, 1, month_hours=8)
    assert {hours.index(h): s.value for h, s in filled.values.items()} == {1: 20.0, 2: 30.0}


def test_availability_of_an_hour() -> None:
    window = [(T0, T0 + H)]
    assert classify(T0, (60, 60), window, [], 0.95) == MAINTENANCE
    assert classify(T0, (60, 60), [], [(T0 - H, None)], 0.95) == DISRUPTED
    assert classify(T0, (60, 50), [], [], 0.95) == DISRUPTED
    assert classify(T0, (60, 58), [], [], 0.95) == AVAILABLE
