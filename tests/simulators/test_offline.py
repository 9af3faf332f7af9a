"""Every shipped scenario runs offline and leaves its ground truth; runs are reproducible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
import yaml

from heatlink.water import heat_power_w
from simulators.catalog import SERIES
from simulators.offline import SimulationResult, run_offline
from simulators.physics import lmtd_k
from simulators.scenario import SensorOverride, list_scenarios, load_scenario
from simulators.truth import read_jsonl

CLUSTER_FILE = Path(__file__).parents[2] / "heatlink/cluster/examples/nordland.yaml"
TANK = "glomfjord/smoltfarm/tank1/temp"

EXPECTED_INJECTED = {
    "normal-day": set(),
    "furnace-trip": {"trip", "restart"},
    "planned-stop": {"planned_stop_announced", "planned_stop_start", "planned_stop_end"},
    "fouling": {"fouling_start"},
    "stuck-sensor": {"sensor_stuck", "sensor_recovered"},
    "comms-loss": {"comms_lost", "comms_restored"},
    "slow-decline": {"decline_start"},
    "demo": {"trip", "restart"},  # heatlink demo's real-time story (demo)
    "restart-full-heat": {"trip", "restart"},
    "partial-loss": {"trip", "restart"},
    "flapping-supply": {"trip", "restart"},
    "backup-heater": {"trip", "restart", "setpoint_written"},
}


# What the scenarios of issue 18 must contain in their ground truth: the limit crossings
# they were written for (true values, not readings).
@pytest.mark.parametrize(("name", "crossings"), [
    # Full heat at once into a cold tank: its 2 K/h rise limit is crossed after the restart.
    ("restart-full-heat", {"below_min", "back_above_min", "ramp_exceeded"}),
    # Half the heat left: the tank falls fast but not below 10 C; the return warms it fast.
    ("partial-loss", {"ramp_exceeded"}),
    # Each of three trips and returns crosses the rate limit both ways.
    ("flapping-supply", {"ramp_exceeded", "ramp_within_limit"}),
    # The backup heater slows the fall; the tank still dips below 10 C before the restart.
    ("backup-heater", {"below_min", "back_above_min", "ramp_exceeded"}),
])
def test_the_protection_scenarios_record_their_limit_crossings(name: str,
                                                               crossings: set[str]) -> None:
    result = _run(name)
    on_tank = [e for e in result.truth if e.category == "limit" and e.series == TANK]
    assert crossings <= {e.kind for e in on_tank}
    rises = [e for e in on_tank if e.kind == "ramp_exceeded" and e.detail["rate_k_per_h"] > 0]
    assert rises, "the heat coming back crosses the rise limit"
    if name == "partial-loss":
        assert "below_min" not in {e.kind for e in on_tank}
    if name == "flapping-supply":
        assert len([e for e in result.truth if e.kind == "trip"]) == 3


@cache
def _run(name: str) -> SimulationResult:
    """One default run per scenario, shared by the tests that only look at it."""
    return run_offline(name, seed=1)


def test_the_simulator_publishes_every_measured_series_of_the_cluster_file() -> None:
    cluster = yaml.safe_load(CLUSTER_FILE.read_text())
    measured = {s["key"]: s for s in cluster["series"]}
    assert {s.key for s in SERIES} == set(measured)
    for info in SERIES:
        assert info.unit == measured[info.key]["unit"]
        assert [info.low, info.high] == measured[info.key]["range"]


def test_all_shipped_scenarios_are_listed() -> None:
    assert set(list_scenarios()) == set(EXPECTED_INJECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED_INJECTED))
def test_scenario_runs_and_writes_its_ground_truth(name: str, tmp_path: Path) -> None:
    # How fast a scenario runs (a simulated day in a few seconds of CPU) is a benchmark
    # figure, not something a test can assert on a shared machine.
    result = _run(name)
    scenario = load_scenario(name)
    timestamps = [r.ts for r in result.readings]
    assert timestamps == sorted(timestamps)
    assert all(r.quality in ("good", "uncertain", "bad") for r in result.readings)
    assert {r.series for r in result.readings} == {s.key for s in SERIES}
    result.write_truth(tmp_path / "truth.jsonl")
    lines = read_jsonl(tmp_path / "truth.jsonl")
    assert len(lines) == len(result.truth)
    injected = {e["kind"] for e in lines if e["category"] == "injected"}
    assert injected == EXPECTED_INJECTED[name]
    for line in lines:
        assert datetime.fromisoformat(line["sim_at"]) == scenario.start + timedelta(
            seconds=line["sim_s"])


def test_normal_day_keeps_every_recipient_inside_its_limits() -> None:
    result = _run("normal-day")
    assert [e for e in result.truth if e.category == "limit"] == []


def test_furnace_trip_tank_crosses_its_minimum_minutes_after_the_trip() -> None:
    result = _run("furnace-trip")
    (trip,) = result.truth_of("trip")
    below = [e for e in result.truth_of("below_min") if e.series == TANK]
    assert len(below) == 1
    delay_s = below[0].sim_s - trip.sim_s
    # Loop and pipeline delay, then τ = 63 min toward 2 °C from 12 °C: about a quarter hour.
    assert 10 * 60 < delay_s < 30 * 60
    ramps = [e for e in result.truth_of("ramp_exceeded") if e.series == TANK]
    assert ramps
    assert trip.sim_s < ramps[0].sim_s < below[0].sim_s
    back = [e for e in result.truth_of("back_above_min") if e.series == TANK]
    (restart,) = result.truth_of("restart")
    assert back
    assert back[0].sim_s > restart.sim_s
    # The measured tank temperature shows the same fall (noise 0.05 K).
    tank = result.series(TANK)
    at_crossing = min(tank, key=lambda r: abs((r.ts - result.start).total_seconds()
                                              - below[0].sim_s))
    assert at_crossing.value == pytest.approx(10.0, abs=0.3)


def test_fouling_shows_in_the_measured_ua() -> None:
    result = _run("fouling")
    hx = "glomfjord/smelter/hx1"

    def mean_ua(first_s: float, last_s: float) -> float:
        def avg(key: str) -> float:
            values = [r.value for r in result.series(f"{hx}/{key}")
                      if first_s <= (r.ts - result.start).total_seconds() < last_s]
            return sum(values) / len(values)
        hot_in, hot_out = avg("primary/supply_temp"), avg("primary/return_temp")
        cold_in, cold_out = avg("secondary/return_temp"), avg("secondary/supply_temp")
        power_w = heat_power_w(avg("primary/flow"), hot_in, hot_out)
        return power_w / lmtd_k(hot_in, hot_out, cold_in, cold_out)

    clean, fouled = mean_ua(0, 3600), mean_ua(86_400 - 3600, 86_401)
    assert clean == pytest.approx(400_000, rel=0.05)
    assert fouled / clean == pytest.approx(0.70, abs=0.03)


def test_stuck_sensor_repeats_one_value_while_stuck() -> None:
    result = _run("stuck-sensor")
    (stuck,) = result.truth_of("sensor_stuck")
    (freed,) = result.truth_of("sensor_recovered")
    during = {r.value for r in result.series(TANK) if stuck.sim_at <= r.ts < freed.sim_at}
    after = {r.value for r in result.series(TANK) if r.ts >= freed.sim_at}
    assert len(during) == 1
    assert len(after) > 20


def test_dropouts_and_spikes_of_misbehaving_instruments() -> None:
    result = _run("stuck-sensor")
    per_series = 14_400 // 10 + 1
    inflow = result.series("glomfjord/smoltfarm/tank1/inflow")
    assert per_series * 0.95 < len(inflow) < per_series * 0.995
    supply = [r.value for r in result.series("glomfjord/smelter/hx1/secondary/supply_temp")]
    median = sorted(supply)[len(supply) // 2]
    spikes = [v for v in supply if abs(v - median) > 3.0]
    assert 1 <= len(spikes) <= 25
    assert len(result.series(TANK)) == per_series


def test_comms_loss_leaves_a_gap_in_that_plant_only() -> None:
    result = _run("comms-loss")
    (lost,) = result.truth_of("comms_lost")
    (back,) = result.truth_of("comms_restored")
    in_gap = [r for r in result.readings if lost.sim_at <= r.ts < back.sim_at]
    assert in_gap
    assert not [r for r in in_gap if r.series.startswith("glomfjord/smoltfarm/")]
    assert [r for r in in_gap if r.series.startswith("glomfjord/smelter/")]


def test_an_instrument_can_sample_at_its_own_rate() -> None:
    scenario = load_scenario("normal-day").model_copy(update={"sensors": {
        TANK: SensorOverride(period_s=60.0)}})
    result = run_offline(scenario, duration_s=3600)
    assert len(result.series(TANK)) == 61
    assert len(result.series("glomfjord/smoltfarm/tank1/inflow")) == 361


def test_same_seed_same_run_other_seed_other_noise() -> None:
    start = datetime(2026, 2, 1, 6, tzinfo=UTC)
    a = run_offline("furnace-trip", seed=5, duration_s=7200, start=start)
    b = run_offline("furnace-trip", seed=5, duration_s=7200, start=start)
    c = run_offline("furnace-trip", seed=6, duration_s=7200, start=start)
    assert a.readings == b.readings
    assert [e.as_dict() for e in a.truth] == [e.as_dict() for e in b.truth]
    assert a.readings[0].ts == start
    assert [r.value for r in a.readings] != [r.value for r in c.readings]
    # The physics does not depend on the seed; only the sensors do.
    assert [(e.kind, e.sim_s) for e in a.truth] == [(e.kind, e.sim_s) for e in c.truth]
