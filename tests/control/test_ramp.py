"""The planner and the ramp state machine, on a fake clock: no I/O."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from heatlink.commands import CommandResult, SetpointCommand, is_due
from heatlink.testing import FakeClock
from services.control.plan import PlanError, StartError, plan_ramp
from services.control.ramp import Ramp, RampStatus

POINT = load_cluster(EXAMPLE_CLUSTER).writable_points[0]


def plan(start: float = 12.0, target: float = 18.0, ease_s: float = 1800.0):  # type: ignore[no-untyped-def]
    return plan_ramp(start, target, max_rise_per_h=2.0, max_fall_per_h=1.0,
                     value_range=(0.0, 20.0), rate_fraction=0.8, ease_s=ease_s, step_s=120.0)


@given(start=st.floats(0, 20), target=st.floats(0, 20), ease=st.floats(0, 3600))
def test_no_step_is_steeper_than_the_limit_and_the_last_is_the_target(
        start: float, target: float, ease: float) -> None:
    p = plan(start, target, ease)
    limit = (2.0 if target >= start else 1.0) * 0.8
    values = [start] + [p.value_of_step(k) for k in range(1, p.steps + 1)]
    assert values[-1] == target
    for a, b in itertools.pairwise(values):
        assert abs(b - a) <= limit * 120 / 3600 + 1e-3


@given(start=st.floats(0, 20), target=st.floats(0, 20), ease=st.floats(0, 3600))
def test_every_planned_step_lies_between_start_and_target(
        start: float, target: float, ease: float) -> None:
    p = plan(start, target, ease)
    low, high = sorted((start, target))
    assert all(low <= p.value_of_step(k) <= high for k in range(1, p.steps + 1))


@pytest.mark.parametrize(("target", "why"), [(21.0, "outside"), (-1.0, "outside"),
                                              (math.nan, "outside"), (math.inf, "outside")])
def test_a_target_outside_the_range_is_refused(target: float, why: str) -> None:
    with pytest.raises(PlanError, match=why):
        plan(12.0, target)


@pytest.mark.parametrize("start", [1000.0, -273.0, math.nan])
def test_a_plant_value_outside_the_range_is_no_start(start: float) -> None:
    with pytest.raises(StartError, match="a ramp cannot start there"):
        plan(start, 12.0)


def answer(cmd: SetpointCommand, status: str, clock: FakeClock,
           readback: float | None = None) -> CommandResult:
    return CommandResult.model_validate({
        "command_id": cmd.id, "gateway": cmd.gateway, "ramp_id": cmd.ramp_id,
        "point": cmd.point, "status": status,
        "value": cmd.value, "readback": cmd.value if readback is None else readback,
        "at": clock.now()})


def test_a_ramp_runs_step_by_step_to_its_target() -> None:
    clock = FakeClock()
    ramp = Ramp(1, POINT, 12.6, plan(12.0, 12.6), clock.now())
    sent = 0
    while ramp.status is RampStatus.RUNNING:
        _, cmd = ramp.tick(clock.now(), ())
        if cmd is not None:
            sent += 1
            assert ramp.tick(clock.now(), ())[1] is None  # one step in flight at a time
            ramp.on_result(answer(cmd, "applied", clock), clock.now())
        clock.advance(30)
    assert ramp.status is RampStatus.COMPLETED
    assert ramp.confirmed_value == 12.6
    assert sent == ramp.plan.steps


def test_a_blocker_holds_and_its_clearing_resumes_from_the_confirmed_value() -> None:
    clock = FakeClock()
    ramp = Ramp(1, POINT, 18.0, plan(), clock.now())
    for _ in range(10):
        _, cmd = ramp.tick(clock.now(), ())
        if cmd:
            ramp.on_result(answer(cmd, "applied", clock), clock.now())
        clock.advance(120)
    reached = ramp.confirmed_value
    events, cmd = ramp.tick(clock.now(), ("stale input: tank",))
    assert ramp.status is RampStatus.HELD
    assert cmd is None
    assert [e.kind for e in events] == ["held"]
    clock.advance(3600)
    assert ramp.tick(clock.now(), ("stale input: tank",))[1] is None
    events, cmd = ramp.tick(clock.now(), ())
    assert [e.kind for e in events] == ["resumed", "step_sent"]
    assert ramp.plan.start_value == reached
    assert cmd is not None
    assert cmd.value - (reached or 0) < 0.01  # eased in again, no jump


def test_an_unconfirmed_step_expires_is_retried_then_holds_for_the_operator() -> None:
    clock = FakeClock()
    ramp = Ramp(1, POINT, 18.0, plan(), clock.now())
    _, first = ramp.tick(clock.now(), ())
    assert first is not None
    clock.advance(POINT.command_ttl_s)
    events, second = ramp.tick(clock.now(), ())
    assert [e.kind for e in events][:2] == ["step_expired", "retry"]
    assert second is not None
    assert second.id != first.id
    assert second.value == first.value
    clock.advance(POINT.command_ttl_s)
    events, third = ramp.tick(clock.now(), ())
    assert third is None
    assert ramp.status is RampStatus.HELD
    assert "did not confirm" in (ramp.operator_hold or "")
    # The gateway comes back and reports the first one expired: recorded, not acted on.
    late = ramp.on_result(answer(first, "expired", clock), clock.now())
    assert [e.kind for e in late] == ["late_answer"]
    assert ramp.step == 0


def test_a_mismatch_holds_until_the_operator_resumes_or_cancels() -> None:
    clock = FakeClock()
    ramp = Ramp(1, POINT, 18.0, plan(), clock.now())
    _, cmd = ramp.tick(clock.now(), ())
    assert cmd is not None
    events = ramp.on_result(answer(cmd, "refused", clock, readback=12.0), clock.now())
    assert [e.kind for e in events] == ["readback_mismatch", "held"]
    clock.advance(600)
    assert ramp.tick(clock.now(), ())[1] is None  # no blocker, still held
    assert [e.kind for e in ramp.resume(clock.now(), "op")] == ["operator_resumed", "resumed"]
    assert ramp.tick(clock.now(), ())[1] is not None
    assert [e.kind for e in ramp.cancel("op")] == ["cancelled"]
    assert ramp.tick(clock.now(), ()) == ([], None)


def test_the_gateway_side_expiry_check() -> None:
    clock = FakeClock()
    cmd = SetpointCommand(id="x", gateway=POINT.gateway, ramp_id=1, step=1, point=POINT.key,
                          node_id=POINT.node_id, value=1.0,
                          issued_at=clock.now(),
                          expires_at=clock.now() + timedelta(seconds=10), tolerance=0.01)
    assert is_due(cmd, clock.now())
    assert not is_due(cmd, clock.advance(10))


def test_a_ramp_behind_its_schedule_does_not_catch_up() -> None:
    clock = FakeClock()
    ramp = Ramp(1, POINT, 18.0, plan(), clock.now())
    sent_at = [clock.now()]
    _, cmd = ramp.tick(clock.now(), ())
    assert cmd is not None
    clock.advance(POINT.command_ttl_s - 1)  # a slow answer: several steps' worth of time
    ramp.on_result(answer(cmd, "applied", clock), clock.now())
    for _ in range(60):
        clock.advance(10)
        _, cmd = ramp.tick(clock.now(), ())
        if cmd is not None:
            sent_at.append(clock.now())
            ramp.on_result(answer(cmd, "applied", clock), clock.now())
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent_at)]
    assert len(gaps) >= 4
    assert min(gaps) >= POINT.step_s


def test_a_tightened_limit_replans_the_rest_at_the_new_rate() -> None:
    clock = FakeClock()
    ramp = Ramp(1, POINT, 18.0, plan(), clock.now())
    for _ in range(5):
        _, cmd = ramp.tick(clock.now(), ())
        if cmd:
            ramp.on_result(answer(cmd, "applied", clock), clock.now())
        clock.advance(120)
    slower = ramp.plan.rate_per_s / 2
    assert ramp.limit_changed(clock.now(), ramp.plan.rate_per_s * 2) == []
    events = ramp.limit_changed(clock.now(), slower)
    assert [e.kind for e in events] == ["replanned"]
    assert ramp.plan.rate_per_s == slower
    assert ramp.plan.start_value == ramp.confirmed_value


def test_a_late_applied_answer_is_where_a_resume_starts() -> None:
    clock = FakeClock()
    ramp = Ramp(1, POINT, 18.0, plan(), clock.now())
    _, first = ramp.tick(clock.now(), ())
    assert first is not None
    for _ in range(POINT.max_attempts):
        clock.advance(POINT.command_ttl_s)
        ramp.tick(clock.now(), ())
    assert ramp.status is RampStatus.HELD
    ramp.on_result(answer(first, "applied", clock), clock.now())
    assert ramp.confirmed_value == first.value
    ramp.resume(clock.now(), "op")
    assert ramp.plan.start_value == first.value
