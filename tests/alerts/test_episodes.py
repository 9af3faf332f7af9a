"""One page per episode per recipient (issue 18): a trip seen by two rules pages the farm
once; the heat coming back too fast escalates it at once, and the smelter hears how slowly
to bring it back; recovery is one summary; a prediction that did not come true is
withdrawn without a page. The alert service and its worker on a real database, a fake
clock, a recording channel."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from alerts import operations, store
from alerts.model import AlertState
from alerts.service import AlertService
from alerts.settings import AlertSettings
from alerts.testing import RecordingChannel
from alerts.worker import DeliveryWorker
from heatlink.findings import Finding
from heatlink.testing import FakeClock
from tests.alerts.conftest import index_for
from tests.alerts.support import HX1_POWER, TANK_TEMP, alert_service, finding, write_cluster

FURNACE = "glomfjord/smelter/furnace/heat_output"
SUPPLY = "glomfjord/smelter/hx1/secondary/supply_temp"
VALVE = "glomfjord/smoltfarm/tank1/mixing_valve"


class Episode:
    def __init__(self, service: AlertService, worker: DeliveryWorker, channel: RecordingChannel,
                 clock: FakeClock) -> None:
        self.service, self.worker, self.channel, self.clock = service, worker, channel, clock

    async def found(self, *items: Finding) -> None:
        await self.service.findings([replace(f, ts=self.clock.now(),
                                             since_ts=self.clock.now()) for f in items])
        while await self.worker.run_due():
            pass

    def told(self, org: str) -> list[dict[str, Any]]:
        return [item for m in self.channel.sent if m.org == org for item in m.items]


async def _episode(pool: asyncpg.Pool, clock: FakeClock, tmp_path: Path) -> Episode:
    path = write_cluster(tmp_path, [
        {"org": org, "contact": "on call", "channel": "webhook", "address": org}
        for org in ("fjordsmolt", "glomfjord-smelter")], alerting={"group_window_s": 0})
    index = await index_for(pool, path)
    channel = RecordingChannel()
    service = alert_service(pool, index, clock)
    worker = DeliveryWorker(pool, clock, {"webhook": channel}, index.cluster.alerting,
                            AlertSettings())
    return Episode(service, worker, channel, clock)


async def _latest(pool: asyncpg.Pool, clock: FakeClock, values: dict[str, float]) -> None:
    for key, value in values.items():
        await pool.execute("""INSERT INTO readings (series_id, ts, value)
                              SELECT id, $2, $3 FROM series WHERE key = $1""",
                           key, clock.now() - timedelta(seconds=5), value)


def _ok(f: Finding) -> Finding:
    return replace(f, state="ok", previous_state=f.state)


async def test_a_trip_and_its_restart_are_one_episode_for_the_farm(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    ep = await _episode(pool, fake_clock, tmp_path)
    await _latest(pool, fake_clock, {TANK_TEMP: 12.0})
    furnace = finding("furnace-trip", FURNACE, "disrupted", value=140.0)
    hx1 = finding("hx1-disruption", HX1_POWER, "disrupted", value=300.0)
    band = finding("tank1-band", TANK_TEMP, "low", kind="band", owner="fjordsmolt", value=9.8)

    # The furnace's heat output shows the trip first; HX-1's power a minute later is the
    # same cause, and the tank crossing its band a symptom: the farm is paged once.
    await ep.found(furnace)
    fake_clock.advance(80)
    await ep.found(hx1)
    fake_clock.advance(900)
    await ep.found(band)
    farm = ep.told("fjordsmolt")
    assert [(n["event"], n["alert"]["rule_id"]) for n in farm] == [("raised", "furnace-trip")]
    assert "Furnace 1 cooling loop" in farm[0]["alert"]["title"]
    smelter_before = len(ep.told("glomfjord-smelter"))
    # Before any restart the smelter is told the least it must allow: the tank at 12 C is
    # 6 K below the supply's normal 18 C, at 2 K/h three hours (more as the tank cools).
    trip_told = ep.told("glomfjord-smelter")[0]["alert"]
    assert trip_told["title"].endswith(
        "when restarting, bring Plate exchanger HX-1 back over at least 180 min")

    # Two hours on the furnace restarts at full heat into the cold tank, its valve wide
    # open: the heat balance predicts the 2 K/h rise crossed in 15 min. Not news the trip
    # announced: it escalates the trip's alert at once, and the smelter is told the ramp.
    fake_clock.advance(7200)
    await _latest(pool, fake_clock, {TANK_TEMP: 7.3, SUPPLY: 4.0, VALVE: 100.0})
    rising = replace(finding("tank1-ramp-alarm", TANK_TEMP, "predicted_rising", kind="ramp",
                             owner="fjordsmolt", value=7.3), predicted_time_to_limit_s=900.0)
    await ep.found(rising)
    farm = ep.told("fjordsmolt")
    assert [(n["event"], n["alert"]["rule_id"]) for n in farm[1:]] == [
        ("symptom_escalated", "furnace-trip")]
    assert farm[1]["symptom"]["condition"] == "predicted_rising"
    smelter = ep.told("glomfjord-smelter")[smelter_before:]
    assert [n["alert"]["kind"] for n in smelter] == ["restart_ramp"]
    advice = smelter[0]["alert"]
    # The supply's normal level (middle of its 14-22 C band) is 10.7 K above the tank; with
    # the whole inflow warm the supply may close that gap at 2 K/h: 5.35 h.
    assert advice["title"].startswith("Bring Plate exchanger HX-1 back over at least 321 min")
    assert advice["detail"]["slowest_ramp_s"] == 10.7 / 2.0 * 3600
    assert "series" not in advice["detail"]  # the farm's values stay the farm's

    # Recovery: the furnace's own rule clears first (HX-1's goes on: no message), then
    # HX-1's; the farm gets one summary naming what is still active.
    fake_clock.advance(1200)
    await ep.found(_ok(furnace))
    assert len(ep.told("fjordsmolt")) == 2
    fake_clock.advance(120)
    await ep.found(_ok(hx1))
    farm = ep.told("fjordsmolt")
    assert [(n["event"], n["alert"]["rule_id"]) for n in farm[2:]] == [
        ("cleared", "hx1-disruption")]
    still = {a["condition"] for a in farm[2]["still_active"]}
    assert still == {"low", "predicted_rising"}
    # What the summary named clears without another message.
    fake_clock.advance(600)
    await ep.found(_ok(band), _ok(rising))
    assert len(ep.told("fjordsmolt")) == 3


async def test_a_prediction_that_does_not_come_true_is_withdrawn_without_a_page(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    ep = await _episode(pool, fake_clock, tmp_path)
    predicted = replace(finding("hx1-supply-band", SUPPLY, "predicted_low", kind="band",
                                owner="fjordsmolt", severity="warning", value=15.0),
                        predicted_time_to_limit_s=500.0)
    await ep.found(predicted)
    assert [n["event"] for n in ep.told("fjordsmolt")] == ["raised"]
    fake_clock.advance(1200)
    await ep.found(_ok(predicted))
    assert [n["event"] for n in ep.told("fjordsmolt")] == ["raised"]
    alert_id = ep.told("fjordsmolt")[0]["alert"]["id"]
    state = await pool.fetchval("SELECT state FROM alerts WHERE id = $1", alert_id)
    events = [r["event"] for r in await pool.fetch(
        "SELECT event FROM alert_transitions WHERE alert_id = $1 ORDER BY id", alert_id)]
    assert (state, events[-1]) == ("normal", "withdrawn")

    # Made again soon after (a slope at the edge of its horizon): the same news, no page.
    fake_clock.advance(1200)
    await ep.found(predicted)
    assert [n["event"] for n in ep.told("fjordsmolt")] == ["raised"]
    assert await pool.fetchval("SELECT state FROM alerts WHERE id = $1",
                               alert_id) == "active_unack"
    # Withdrawn for longer than an hour, it is news again.
    fake_clock.advance(600)
    await ep.found(_ok(predicted))
    fake_clock.advance(2 * 3600)
    await ep.found(predicted)
    assert [n["event"] for n in ep.told("fjordsmolt")] == ["raised", "raised"]


async def test_a_partial_loss_gives_the_horizon_of_the_supply_that_is_left(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    """A supply below its band but above the tank's limit does not take the tank there; a
    supply below the limit does, later than a total loss, with the range of the estimate."""
    ep = await _episode(pool, fake_clock, tmp_path)
    await _latest(pool, fake_clock, {TANK_TEMP: 12.0})
    band = finding("hx1-supply-band", SUPPLY, "low", kind="band", owner="fjordsmolt",
                   severity="warning", value=12.5)
    await ep.found(band)
    [told] = ep.told("fjordsmolt")
    assert told["alert"]["time_to_impact_s"] is None
    assert "not reached at the supply's present temperature" in told["alert"]["title"]

    fake_clock.advance(600)  # a second rule on the same supply, now at 8 C
    await ep.found(replace(band, rule_id="hx1-supply-band-b", value=8.0))
    alert = await pool.fetchrow("""SELECT time_to_impact_s, detail FROM alerts
                                   WHERE rule_id = 'hx1-supply-band-b' AND org = $1""",
                                "fjordsmolt")
    # 15 m3 of pipe at 180 m3/h, then τ = 3800 s from 12 toward 8 C, crossing 10 C.
    total_loss_s = 300 + 3800 * math.log((12 - 2) / (10 - 2))
    assert alert["time_to_impact_s"] == pytest.approx(300 + 3800 * math.log(2), rel=1e-6)
    assert alert["time_to_impact_s"] > 2 * total_loss_s
    low, high = json.loads(alert["detail"])["time_to_impact_range_s"]
    assert low < alert["time_to_impact_s"] < high


async def test_a_disruption_that_leaves_heat_is_timed_as_a_total_loss_with_its_range(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    """The heat may still be falling when the drop is seen: the estimate stays a total loss
    (the safe side); its range reaches to what the heat left would hold - here, half the
    heat keeps the supply above the tank's limit, so the late end is "never"."""
    ep = await _episode(pool, fake_clock, tmp_path)
    await _latest(pool, fake_clock, {TANK_TEMP: 12.0, SUPPLY: 19.0})
    half = replace(finding("furnace-trip", FURNACE, "disrupted", value=3500.0),
                   reference_value=7000.0)
    await ep.found(half)
    [told] = ep.told("fjordsmolt")
    alert = told["alert"]
    assert alert["time_to_impact_s"] == pytest.approx(300 + 3800 * math.log(10 / 8), rel=1e-6)
    low, high = alert["detail"]["time_to_impact_range_s"]
    assert low < alert["time_to_impact_s"]
    assert high is None
    assert alert["title"].endswith("to never)")


async def test_acknowledging_the_cause_acknowledges_what_follows_from_it(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    ep = await _episode(pool, fake_clock, tmp_path)
    await _latest(pool, fake_clock, {TANK_TEMP: 12.0})
    await ep.found(finding("furnace-trip", FURNACE, "disrupted", value=140.0))
    fake_clock.advance(80)
    await ep.found(finding("hx1-disruption", HX1_POWER, "disrupted", value=300.0))
    fake_clock.advance(900)
    await ep.found(finding("tank1-band", TANK_TEMP, "low", kind="band", owner="fjordsmolt",
                           value=9.8))
    async with pool.acquire() as conn:
        farm = await store.list_alerts(conn, "fjordsmolt", active_only=True, limit=50)
    roots = [a for a in farm if a.parent_id is None]
    assert len(roots) == 1  # one alarm for the farm, whatever followed from the trip
    grouped = [a for a in farm if a.parent_id == roots[0].id]
    assert grouped
    assert all(a.state == AlertState.ACTIVE_UNACK for a in grouped)

    done = await operations.acknowledge(ep.service, roots[0].id, "fjordsmolt", "night shift")

    assert isinstance(done, operations.Done)
    async with pool.acquire() as conn:
        after = {a.id: a for a in await store.list_alerts(conn, "fjordsmolt",
                                                          active_only=True, limit=50)}
        notes = [t["note"] for a in grouped for t in await store.transitions(conn, a.id)
                 if t["event"] == "acknowledged"]
    assert {after[a.id].state for a in [roots[0], *grouped]} == {AlertState.ACTIVE_ACK}
    assert notes == [f"with its group (alert {roots[0].id})"] * len(grouped)


async def test_the_tank_falling_back_after_the_warm_up_is_the_episode_just_summarised(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    """A short trip (flapping supply): the furnace is back, the farm had its one summary,
    and the tank, overshot by the warm-up, falls back toward its setpoint faster than the
    1 K/h warning. That is the episode just summarised, not a new page; a new alarm, or a
    warning of too much heat, in the same hour still pages."""
    ep = await _episode(pool, fake_clock, tmp_path)
    await _latest(pool, fake_clock, {TANK_TEMP: 12.0})
    furnace = finding("furnace-trip", FURNACE, "disrupted", value=140.0)
    await ep.found(furnace)
    fake_clock.advance(420)
    rising = finding("tank1-ramp-warn", TANK_TEMP, "rising", kind="ramp", owner="fjordsmolt",
                     severity="warning", value=11.5)
    await ep.found(rising)
    fake_clock.advance(300)
    await ep.found(_ok(furnace))
    fake_clock.advance(1500)
    await ep.found(_ok(rising))
    farm = [(n["event"], n["alert"]["rule_id"]) for n in ep.told("fjordsmolt")]
    assert farm == [("raised", "furnace-trip"), ("symptom_escalated", "furnace-trip"),
                    ("cleared", "furnace-trip")]

    # Eleven minutes later the tank falls back at more than 1 K/h: grouped, no page.
    fake_clock.advance(660)
    falling = replace(rising, state="falling", previous_state="ok", value=12.6)
    await ep.found(falling)
    assert len(ep.told("fjordsmolt")) == 3
    row = await pool.fetchrow("SELECT state, parent_id FROM alerts WHERE rule_id = "
                              "'tank1-ramp-warn' AND org = 'fjordsmolt'")
    root_id = ep.told("fjordsmolt")[0]["alert"]["id"]
    assert (row["state"], row["parent_id"]) == ("active_unack", root_id)

    # An alarm in the same hour is a new risk: paged.
    fast = finding("tank1-ramp-alarm", TANK_TEMP, "falling", kind="ramp", owner="fjordsmolt",
                   value=12.4)
    await ep.found(fast)
    assert [(n["event"], n["alert"]["rule_id"]) for n in ep.told("fjordsmolt")[3:]] == [
        ("raised", "tank1-ramp-alarm")]

    # Over an hour after the recovery, the same warning is news again.
    fake_clock.advance(600)
    await ep.found(_ok(falling), _ok(fast))
    told = len(ep.told("fjordsmolt"))
    fake_clock.advance(3600)
    await ep.found(falling)
    assert [(n["event"], n["alert"]["rule_id"]) for n in ep.told("fjordsmolt")[told:]] == [
        ("returned", "tank1-ramp-warn")]
