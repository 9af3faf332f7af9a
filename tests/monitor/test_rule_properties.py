"""Property tests of the pure rules (hypothesis) and the noise/ramp acceptance checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatlink.cluster.rule_spec import BandRule, RampRule
from heatlink.findings import State
from services.monitor.rules import SeriesRule
from tests.monitor.signals import DAY_S, hinge, irregular, noise, regular

SERIES = "site/tank/temp"
FAST = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def ramp(limit_per_h: float = 2.0, windows_s: tuple[float, ...] = (300.0, 3600.0),
         **kw: float) -> SeriesRule:
    return SeriesRule(RampRule(id="r", owner="farm", series=SERIES, max_rise_per_h=limit_per_h,
                               max_fall_per_h=limit_per_h, windows_s=list(windows_s), **kw))


@FAST
@given(offset=st.floats(-500, 500), rate_per_h=st.sampled_from([0.0, 0.5, -1.0, 3.0, -5.0]),
       seed=st.integers(0, 10_000))
def test_constant_offset_does_not_change_ramp_verdict(offset: float, rate_per_h: float,
                                                      seed: int) -> None:
    t = regular(4 * 3600)
    base = 10.0 + hinge(t, t[0] + 3600, rate_per_h) + noise(t, 0.05, seed)
    rule = ramp()
    a, b = rule.evaluate(t, base), rule.evaluate(t, base + offset)
    assert [(f.ts, f.state) for f in a.findings] == [(f.ts, f.state) for f in b.findings]


@FAST
@given(rate_per_h=st.sampled_from([0.0, 0.8, -1.2, 2.6, -3.0, 6.0]), seed=st.integers(0, 10_000),
       level=st.floats(-1, 90))
def test_irregular_sampling_gives_the_regular_verdict(rate_per_h: float, seed: int,
                                                      level: float) -> None:
    # The same straight-line signal: least squares recovers its slope from any sampling.
    regular_t, irregular_t = regular(3 * 3600), irregular(3 * 3600, seed)
    rule = ramp()

    def signal(t: np.ndarray) -> np.ndarray:
        return level + (t - t[0]) * rate_per_h / 3600

    a, b = rule.evaluate(regular_t, signal(regular_t)), rule.evaluate(irregular_t,
                                                                      signal(irregular_t))
    assert a.final == b.final
    assert set(a.states_entered) == set(b.states_entered)
    expected = State.OK if abs(rate_per_h) <= 2 else (
        State.RISING if rate_per_h > 0 else State.FALLING)
    assert a.final == expected


@FAST
@given(seed=st.integers(0, 10_000), amplitude=st.floats(0.01, 0.2),
       side=st.sampled_from(["high", "low"]))
def test_hysteresis_prevents_flapping_at_the_limit(seed: int, amplitude: float,
                                                   side: str) -> None:
    t = regular(2 * 3600)
    limit = 16.0 if side == "high" else 10.0
    jitter = np.random.default_rng(seed).uniform(-amplitude, amplitude, t.size)
    values = limit + jitter
    band = {"low": None, "high": limit} if side == "high" else {"low": limit, "high": None}
    with_deadband = SeriesRule(BandRule(id="b", owner="farm", series=SERIES,
                                        deadband=2.5 * amplitude, predict_horizon_s=0, **band))
    result = with_deadband.evaluate(t, values)
    assert len(result.findings) <= 1
    without = SeriesRule(BandRule(id="b", owner="farm", series=SERIES, deadband=0.0,
                                  predict_horizon_s=0, **band))
    assert len(without.evaluate(t, values).findings) > 10  # what the deadband prevents


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flat_day_with_noise_never_fires_a_2k_per_h_limit(seed: int) -> None:
    t = regular(DAY_S)
    result = ramp().evaluate(t, 12.0 + noise(t, 0.05, seed))
    assert result.findings == ()


@pytest.mark.parametrize(("seed", "rate_per_h"), [(1, 4.0), (2, -4.0), (3, 4.0), (4, -4.0)])
def test_true_4k_per_h_ramp_fires_within_5_minutes(seed: int, rate_per_h: float) -> None:
    t = regular(6 * 3600)
    start = t[0] + 3 * 3600 + 3.0
    result = ramp().evaluate(t, 12.0 + hinge(t, start, rate_per_h) + noise(t, 0.05, seed))
    first = result.findings[0]
    assert first.state == ("rising" if rate_per_h > 0 else "falling")
    assert 0 < first.ts.timestamp() - start <= 300
    assert first.slope_per_h is not None
    assert abs(first.slope_per_h) > 2.0


def test_ramp_needs_the_window_covered_before_it_judges() -> None:
    # 12 noisy samples over two minutes would give a slope error of several K/h.
    t = regular(120)
    result = ramp(min_samples=10).evaluate(t, 12.0 + noise(t, 0.05, 7))
    assert result.findings == ()
