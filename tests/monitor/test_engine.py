"""The streaming engine on the example cluster: batching, replays, physics-driven rules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatlink.cluster.model import Cluster
from heatlink.findings import Finding
from services.monitor.engine import Engine
from services.monitor.group import VersionedRule
from services.monitor.plan import plan_from_cluster
from tests.monitor.plant import TANK, glomfjord
from tests.monitor.signals import hinge, noise, regular


def engine_for(cluster: Cluster, start_s: float) -> Engine:
    return Engine(plan_from_cluster(cluster), [VersionedRule(r, 1) for r in cluster.rules],
                  start_s)


def feed(engine: Engine, keys: Sequence[str], t: np.ndarray, v: np.ndarray,
         now_s: float | None = None) -> list[Finding]:
    idx = np.array([engine.table.index[k] for k in keys], dtype=np.int64)
    return engine.process(idx, t, v, None, now_s=float(t.max()) if now_s is None else now_s)


def tank_signal(start_s: float = 1.7e9) -> tuple[np.ndarray, np.ndarray]:
    t = regular(8 * 3600, start_s=start_s)
    v = 12.0 + hinge(t, t[0] + 2 * 3600, 3.0) - hinge(t, t[0] + 4 * 3600, 6.0) + noise(t, 0.05, 3)
    return t, v


def summary(findings: Sequence[Finding]) -> list[tuple[str, str, float]]:
    return [(f.rule_id, f.state, round(f.ts.timestamp(), 3)) for f in findings
            if f.kind != "stale"]


@pytest.fixture(scope="module")
def in_one_batch(cluster: Cluster) -> list[Finding]:
    t, v = tank_signal()
    whole = feed(engine_for(cluster, t[0]), [TANK] * t.size, t, v)
    assert {f.state for f in whole} >= {"rising", "high", "falling", "ok"}
    return whole


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), cuts=st.integers(1, 300))
def test_findings_do_not_depend_on_how_readings_are_batched(
        cluster: Cluster, in_one_batch: list[Finding], seed: int, cuts: int) -> None:
    t, v = tank_signal()
    pieces = engine_for(cluster, t[0])
    cuts_at = np.sort(np.random.default_rng(seed).choice(t.size, cuts, replace=False))
    streamed: list[Finding] = []
    for part in np.split(np.arange(t.size), cuts_at):
        if part.size:
            streamed += feed(pieces, [TANK] * part.size, t[part], v[part])
    assert summary(streamed) == summary(in_one_batch)


def test_a_replayed_batch_raises_nothing_again(cluster: Cluster) -> None:
    t, v = tank_signal()
    engine = engine_for(cluster, t[0])
    first = feed(engine, [TANK] * t.size, t, v)
    assert first
    assert feed(engine, [TANK] * t.size, t, v) == []
    older = t[::7]  # out of order and already covered
    assert feed(engine, [TANK] * older.size, older[::-1], v[::7][::-1] + 5.0) == []
    assert engine.counters.already_seen == 2 * t.size - t.size + older.size


def test_a_breach_while_the_link_was_down_is_reported_late_with_its_true_time(
        cluster: Cluster) -> None:
    t = regular(3 * 3600)
    v = 12.0 + noise(t, 0.05, 1)
    v[(t > t[0] + 4000) & (t < t[0] + 5000)] = 17.0  # above the 16 °C limit, link down
    engine = engine_for(cluster, t[0])
    live = t < t[0] + 3600
    feed(engine, [TANK] * int(live.sum()), t[live], v[live])
    outage = engine.tick(t[0] + 3 * 3600)
    stale = [f for f in outage if f.rule_id == "tank1-stale"]
    assert [f.state for f in stale] == ["unknown"]
    assert stale[0].ts.timestamp() == pytest.approx(t[live][-1] + 120)
    replay = feed(engine, [TANK] * int((~live).sum()), t[~live], v[~live],
                  now_s=t[0] + 3 * 3600 + 30)
    high = [f for f in replay if f.rule_id == "tank1-band" and f.state == "high"]
    assert len(high) == 1
    assert high[0].late
    assert t[0] + 4000 <= high[0].ts.timestamp() <= t[0] + 4000 + 60
    assert [f.state for f in replay if f.rule_id == "tank1-stale"] == ["ok"]


def test_furnace_trip_predicts_the_tank_breach_from_the_thermal_model(cluster: Cluster) -> None:
    run = glomfjord(4 * 3600, trip_s=2 * 3600)
    assert run.trip_s is not None
    assert run.tank_crosses_low_s is not None
    engine = engine_for(cluster, run.t_s[0])
    keys, t, v = run.readings()
    found = feed(engine, keys, t, v)
    disrupted = [f for f in found if f.rule_id == "hx1-disruption" and f.state == "disrupted"]
    assert disrupted
    assert disrupted[0].ts.timestamp() - run.trip_s < 30
    tank = [f for f in found if f.series == TANK and f.state in ("predicted_low", "falling")]
    assert tank
    available = run.tank_crosses_low_s - run.trip_s
    lead = run.tank_crosses_low_s - tank[0].ts.timestamp()
    assert lead >= 0.8 * available
    predicted = next(f for f in tank if f.state == "predicted_low")
    assert predicted.predicted_time_to_limit_s is not None
    assert predicted.predicted_time_to_limit_s == pytest.approx(
        run.tank_crosses_low_s - predicted.ts.timestamp(), abs=60)
    normal_before = [f for f in found if f.ts.timestamp() < run.trip_s and f.kind != "stale"]
    assert normal_before == []


def test_fouling_is_reported_before_ua_is_a_quarter_below_clean(cluster: Cluster) -> None:
    def ua_fraction(rel_s: np.ndarray) -> np.ndarray:
        return 1.0 - 0.4 * rel_s / (24 * 3600)  # fouls 40 % in a day (fast, for the test)

    run = glomfjord(24 * 3600, ua_fraction=ua_fraction, step_s=20)
    engine = engine_for(cluster, run.t_s[0])
    keys, t, v = run.readings()
    found = feed(engine, keys, t, v)
    health = [f for f in found if f.rule_id == "hx1-health"]
    assert [f.state for f in health][:1] == ["fouled"]
    true_fraction = ua_fraction(np.array([health[0].ts.timestamp() - run.t_s[0]]))[0]
    assert 0.75 < true_fraction <= 0.8
    assert health[0].value is not None
    assert health[0].value < 0.8 * 400_000


def test_hot_and_cold_power_disagreeing_makes_the_exchanger_suspect(cluster: Cluster) -> None:
    run = glomfjord(3 * 3600)
    run.series["glomfjord/smelter/hx1/secondary/flow"][run.t_s > run.t_s[0] + 3600] *= 0.7
    engine = engine_for(cluster, run.t_s[0])
    keys, t, v = run.readings()
    states = [f.state for f in feed(engine, keys, t, v) if f.rule_id == "hx1-health"]
    assert states == ["suspect"]


def test_a_stuck_sensor_is_suspect_and_not_an_outage(cluster: Cluster) -> None:
    run = glomfjord(3 * 3600)
    stuck = run.t_s > run.t_s[0] + 3600
    supply = run.series["glomfjord/smelter/hx1/primary/supply_temp"]
    supply[stuck] = supply[stuck][0]
    engine = engine_for(cluster, run.t_s[0])
    keys, t, v = run.readings()
    found = feed(engine, keys, t, v)
    assert [(f.rule_id, f.state) for f in found if f.kind != "ramp"] == [
        ("hx1-stale", "suspect")]
    assert found[0].ts.timestamp() == pytest.approx(run.t_s[stuck][0] + 900)


def test_derived_power_and_energy(cluster: Cluster) -> None:
    run = glomfjord(3600, noise_k=0.0)
    engine = engine_for(cluster, run.t_s[0])
    keys, t, v = run.readings()
    feed(engine, keys, t, v)
    table = engine.table
    hot = table.index["glomfjord/smelter/hx1/primary/power"]
    cold = table.index["glomfjord/smelter/hx1/secondary/power"]
    assert table.last_v[hot] == pytest.approx(table.last_v[cold], rel=0.02)
    hours = (t.max() - t.min()) / 3600
    assert table.energy_kwh[hot] == pytest.approx(table.last_v[hot] * hours, rel=0.01)


def test_a_rule_change_keeps_the_standing_state_and_names_the_new_version(
        cluster: Cluster) -> None:
    t = regular(3600)
    engine = engine_for(cluster, t[0])
    first = feed(engine, [TANK] * 180, t[:180], np.full(180, 17.0))
    assert [f.state for f in first if f.rule_id == "tank1-band"] == ["high"]
    rules = [VersionedRule(r.model_copy(update={"high": 16.5}), 2) if r.id == "tank1-band"
             else VersionedRule(r, 1) for r in cluster.rules]
    engine.set_rules(rules)
    same = feed(engine, [TANK] * 60, t[180:240], np.full(60, 17.0))
    assert [f for f in same if f.rule_id == "tank1-band"] == []  # still high: not raised again
    lower = feed(engine, [TANK] * 120, t[240:360], np.full(120, 16.2))  # below 16.5 − 0.2 deadband
    cleared = [f for f in lower if f.rule_id == "tank1-band"]
    assert [(f.state, f.rule_version) for f in cleared] == [("ok", 2)]


def test_a_source_gone_offline_makes_its_series_unknown_at_once_not_an_outage(
        cluster: Cluster) -> None:
    """Quality unknown (a Sparkplug death certificate): stale from that moment, not after
    the stale rule's max age, and its value feeds no other rule; a newer value revives it."""
    t = regular(1800)
    v = np.full(t.size, 12.0)
    v += noise(t, 0.05, 2)
    engine = engine_for(cluster, t[0])
    idx = np.full(t.size, engine.table.index[TANK], dtype=np.int64)
    engine.process(idx, t, v, np.zeros(t.size, np.int8), now_s=float(t[-1]))
    death_s = float(t[-1]) + 5
    # The last value again, as the gateway sends it, far outside the band: no band finding.
    dead = engine.process(idx[:1], np.array([death_s]), np.array([40.0]),
                          np.array([3], np.int8), now_s=death_s)
    assert [(f.rule_id, f.state, f.ts.timestamp()) for f in dead] == [
        ("tank1-stale", "unknown", death_s)]
    back = engine.process(idx[:1], np.array([death_s + 60]), np.array([12.1]),
                          np.zeros(1, np.int8), now_s=death_s + 60)
    assert [(f.rule_id, f.state) for f in back] == [("tank1-stale", "ok")]
