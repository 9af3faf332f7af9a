"""The latch every sample-driven rule shares: when a change of state is raised."""

from __future__ import annotations

import numpy as np

from heatlink.findings import State
from services.monitor.latch import TURN_DELAY_S, Features, LatchState


def _feats(enter: list[State], confirmed: list[bool] | None = None) -> Features:
    n = len(enter)
    ok = np.zeros(n, np.int8)
    return Features(enter=np.array(enter, np.int8), hold_a=ok, hold_b=ok, value=np.zeros(n),
                    slope_per_h=np.zeros(n), ttl_s=np.full(n, np.inf),
                    confirmed=None if confirmed is None else np.array(confirmed))


def _walk(latch: LatchState, t: list[float], feats: Features) -> list[tuple[float, int]]:
    fired = latch.run(np.zeros(len(t), np.int64), np.arange(len(t)), np.array(t), feats)
    _, _, _, new, t_f, _ = fired.arrays()
    return list(zip(t_f.tolist(), new.tolist(), strict=True))


def test_a_turn_to_the_other_way_is_raised_after_the_turn_delay_not_the_off_delay() -> None:
    latch = LatchState(on_delay_s=np.zeros(1), off_delay_s=np.full(1, 60.0))
    latch.state[0] = State.RISING
    turn = [State.PREDICTED_FALLING] * 4
    assert _walk(latch, [0, 10, 20, 30], _feats(turn)) == [(TURN_DELAY_S,
                                                            State.PREDICTED_FALLING)]


def test_a_turn_that_swings_back_every_sample_is_not_raised() -> None:
    latch = LatchState(on_delay_s=np.zeros(1), off_delay_s=np.full(1, 60.0))
    latch.state[0] = State.RISING
    swing = [State.PREDICTED_FALLING, State.RISING] * 4
    assert _walk(latch, [10.0 * k for k in range(8)], _feats(swing)) == []


def test_a_prediction_an_upstream_rule_confirmed_skips_the_on_delay() -> None:
    latch = LatchState(on_delay_s=np.full(1, 60.0), off_delay_s=np.full(1, 60.0))
    enter = [State.PREDICTED_LOW] * 3
    assert _walk(latch, [0, 10, 20], _feats(enter, [True] * 3)) == [(0.0,
                                                                      State.PREDICTED_LOW)]
    plain = LatchState(on_delay_s=np.full(1, 60.0), off_delay_s=np.full(1, 60.0))
    assert _walk(plain, [0, 10, 20], _feats(enter, [False] * 3)) == []


def test_a_confirmed_turn_skips_the_turn_delay() -> None:
    """The tank still rises from the last restart when the furnace trips again: the fall
    predicted from the trip's step in the heat output is raised with that sample."""
    latch = LatchState(on_delay_s=np.zeros(1), off_delay_s=np.full(1, 60.0))
    latch.state[0] = State.RISING
    turn = [State.PREDICTED_FALLING] * 2
    assert _walk(latch, [0, 10], _feats(turn, [True, True])) == [(0.0,
                                                                  State.PREDICTED_FALLING)]
