"""The monitor in service on a real TimescaleDB: storing, handing over, restarting, rule
versions. Each test gets its own database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from heatlink.cluster.model import Cluster
from heatlink.testing import FakeClock
from services.monitor.engine import Engine
from services.monitor.group import VersionedRule
from services.monitor.plan import plan_from_cluster
from services.monitor.runtime import NotOwner, RuleChangeError, start_monitor
from services.monitor.store import FindingFilter, MonitorStore
from services.monitor.testing import FlakyFindingSink, RecordingFindingSink
from tests.monitor.dbsupport import T0, TANK, Batch, ingest, store, tank_readings
from tests.monitor.plant import glomfjord


async def test_findings_are_stored_then_handed_over(pool: asyncpg.Pool,
                                                    cluster: Cluster) -> None:
    clock, sink = FakeClock(T0), RecordingFindingSink()
    runtime = await start_monitor(pool, cluster, clock, sink)
    try:
        await ingest(pool, runtime, clock, tank_readings(T0, 20, 12.0))
        await ingest(pool, runtime, clock, tank_readings(T0 + timedelta(minutes=20), 10, 17.0))
        high = [f for f in sink.items if f.rule_id == "tank1-band"]
        assert [f.state for f in high] == ["high"]
        assert high[0].rule_version == 1
        stored = await runtime.store.list_findings(FindingFilter(rule_id="tank1-band"))
        assert [f for _, f in stored] == high
        pending = await pool.fetchval(
            "SELECT count(*) FROM monitor_findings WHERE handed_over_at IS NULL")
        assert pending == 0
        registry = runtime.metrics.registry
        assert registry.get_sample_value("heatlink_monitor_findings_total",
                                         {"kind": "band", "state": "high"}) == 1
        assert registry.get_sample_value("heatlink_monitor_readings_total",
                                          {"outcome": "evaluated"}) == 180
    finally:
        await runtime.stop()


async def test_a_failing_sink_gets_the_findings_again_later(pool: asyncpg.Pool,
                                                            cluster: Cluster) -> None:
    clock, sink = FakeClock(T0), FlakyFindingSink(failures=1)
    runtime = await start_monitor(pool, cluster, clock, sink)
    try:
        await ingest(pool, runtime, clock, tank_readings(T0, 10, 17.0))
        assert sink.items == []
        await ingest(pool, runtime, clock, tank_readings(T0 + timedelta(minutes=10), 5, 17.0))
        assert [f.state for f in sink.items if f.rule_id == "tank1-band"] == ["high"]
    finally:
        await runtime.stop()


async def test_a_restart_neither_loses_nor_repeats_a_finding(pool: asyncpg.Pool,
                                                             cluster: Cluster) -> None:
    # high from minute 10, back to normal at 30, low from 50: the service stops at 40 and
    # readings from 40 to 70 are stored while the monitor is down.
    level = np.r_[np.full(60, 12.0), np.full(120, 17.0), np.full(120, 12.0),
                  np.full(60, 12.0), np.full(120, 9.0), np.full(120, 12.0)]
    everything = tank_readings(T0, 100, level)
    cut1, cut2 = 240, 420

    def part(a: int, b: int) -> Batch:
        return (everything[0][a:b], everything[1][a:b], everything[2][a:b],
                everything[3][a:b])

    clock = FakeClock(T0)
    first = await start_monitor(pool, cluster, clock, RecordingFindingSink())
    await ingest(pool, first, clock, part(0, cut1))
    await first.stop()
    await store(pool, part(cut1, cut2))  # stored while the monitor was down
    clock.set(T0 + timedelta(minutes=75))
    sink = RecordingFindingSink()
    second = await start_monitor(pool, cluster, clock, sink)
    try:
        await ingest(pool, second, clock, part(cut2, len(level)))
        assert second.engine.state_of("tank1-band").label == "ok"
    finally:
        await second.stop()
    rows = await pool.fetch("SELECT rule_id, state, ts FROM monitor_findings"
                            " WHERE kind <> 'stale' ORDER BY ts, rule_id")
    got = [(r["rule_id"], r["state"], r["ts"]) for r in rows]
    # The same readings through one uninterrupted engine:
    engine = Engine(plan_from_cluster(cluster), [VersionedRule(r, 1) for r in cluster.rules],
                    T0.timestamp())
    t = np.array([x.timestamp() for x in everything[1]])
    reference = engine.process(np.full(t.size, engine.table.index[TANK]), t,
                               np.array(everything[2]), None, now_s=float(t[-1]))
    want = sorted(((f.rule_id, f.state, f.ts) for f in reference if f.kind != "stale"),
                  key=lambda x: (x[2], x[0]))
    assert got == want
    assert ("tank1-band", "low") in {(r, s) for r, s, _ in got}
    late = await pool.fetch("SELECT state, late FROM monitor_findings"
                            " WHERE rule_id = 'tank1-band' AND state = 'low'")
    assert [r["late"] for r in late] == [True]


async def test_rule_changes_are_versioned_and_only_by_the_owner(pool: asyncpg.Pool,
                                                                cluster: Cluster) -> None:
    clock, sink = FakeClock(T0), RecordingFindingSink()
    runtime = await start_monitor(pool, cluster, clock, sink)
    try:
        with pytest.raises(NotOwner):
            await runtime.change_rule("tank1-band", {"high": 18.0}, "glomfjord-smelter")
        with pytest.raises(RuleChangeError):
            await runtime.change_rule("tank1-band", {"series": "x/y"}, "fjordsmolt")
        with pytest.raises(RuleChangeError):
            await runtime.change_rule("tank1-band", {"deadband": -1}, "fjordsmolt")
        changed = await runtime.change_rule("tank1-band", {"high": 14.0}, "fjordsmolt",
                                            reason="vet: smolt stage")
        assert changed.version == 2
        await ingest(pool, runtime, clock, tank_readings(T0, 10, 15.0))
        high = [f for f in sink.items if f.rule_id == "tank1-band"]
        assert [(f.state, f.rule_version) for f in high] == [("high", 2)]
        versions = await runtime.store.rule_versions("tank1-band")
        assert [(v.version, v.changed_by) for v in versions] == [
            (1, "cluster-file"), (2, "fjordsmolt")]
        assert versions[1].previous is not None
        assert versions[1].previous["high"] == 16.0
        assert versions[1].spec["high"] == 14.0
    finally:
        await runtime.stop()
    # A restart keeps the owner's version, not the file's.
    again = await start_monitor(pool, cluster, clock, RecordingFindingSink())
    try:
        assert again.rule("tank1-band").version == 2
    finally:
        await again.stop()


async def test_the_migrated_schema_is_what_the_store_expects(pool: asyncpg.Pool) -> None:
    columns = {r["column_name"] for r in await pool.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'monitor_findings'")}
    from services.monitor.store import _FINDING_COLUMNS
    assert set(_FINDING_COLUMNS) | {"id", "handed_over_at"} == columns


async def test_derived_heat_power_is_stored_as_readings(pool: asyncpg.Pool,
                                                        cluster: Cluster) -> None:
    run = glomfjord(600, noise_k=0.0, start_s=T0.timestamp())
    keys, t, v = run.readings()
    batch: Batch = (keys, [datetime.fromtimestamp(x, UTC) for x in t], [float(x) for x in v],
                    ["good"] * len(keys))
    clock = FakeClock(T0)
    runtime = await start_monitor(pool, cluster, clock, RecordingFindingSink())
    try:
        await ingest(pool, runtime, clock, batch)
    finally:
        await runtime.stop()
    rows = await pool.fetch(
        "SELECT r.ts, r.value FROM readings r JOIN series s ON s.id = r.series_id"
        " WHERE s.key = 'glomfjord/smelter/hx1/primary/power' ORDER BY r.ts")
    assert len(rows) == run.t_s.size
    # 300 m3/h cooled from 30 to about 17.4 °C: about 4.4 MW.
    assert 4000 < rows[-1]["value"] < 4800


async def test_findings_not_handed_over_before_a_stop_are_handed_over_on_start(
        pool: asyncpg.Pool, cluster: Cluster) -> None:
    clock = FakeClock(T0)
    down = await start_monitor(pool, cluster, clock, FlakyFindingSink(failures=100))
    await ingest(pool, down, clock, tank_readings(T0, 10, 17.0))
    await down.stop()
    sink = RecordingFindingSink()
    up = await start_monitor(pool, cluster, clock, sink)
    try:
        assert [(f.rule_id, f.state) for f in sink.items if f.kind == "band"] == [
            ("tank1-band", "high")]
    finally:
        await up.stop()


async def test_staleness_follows_the_clock_not_the_readings(pool: asyncpg.Pool,
                                                             cluster: Cluster) -> None:
    clock, sink = FakeClock(T0), RecordingFindingSink()
    runtime = await start_monitor(pool, cluster, clock, sink)
    try:
        await ingest(pool, runtime, clock, tank_readings(T0, 10, 12.0))
        assert [f for f in sink.items if f.rule_id == "tank1-stale"] == []
        clock.advance(300)
        await runtime.tick()
        stale = [f for f in sink.items if f.rule_id == "tank1-stale"]
        assert [(f.state, f.ts) for f in stale] == [
            ("unknown", T0 + timedelta(seconds=590 + 120))]
    finally:
        await runtime.stop()


async def test_a_watermark_only_moves_forward_and_new_series_get_one(pool: asyncpg.Pool) -> None:
    """A save whose series are partly behind (a batch evaluated out of order), partly ahead
    and partly new leaves each at its latest time."""
    monitor = MonitorStore(pool)
    await monitor.save([], {"a": T0 + timedelta(minutes=5), "b": T0})
    await monitor.save([], {"a": T0, "b": T0 + timedelta(minutes=1),
                            "c": T0 + timedelta(minutes=2)})
    assert await monitor.watermarks() == {"a": T0 + timedelta(minutes=5),
                                          "b": T0 + timedelta(minutes=1),
                                          "c": T0 + timedelta(minutes=2)}
    await monitor.save([], {"a": T0 + timedelta(minutes=6), "b": T0 + timedelta(minutes=1)})
    assert (await monitor.watermarks())["a"] == T0 + timedelta(minutes=6)
