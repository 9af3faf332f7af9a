"""Planned outages announced in good time: every recipient downstream is told at once and
again at the lead time; the supplier is not flagged; a recipient cannot announce one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg

from alerts import maintenance
from alerts.settings import AlertSettings
from alerts.testing import RecordingChannel
from alerts.worker import DeliveryWorker
from heatlink.testing import FakeClock
from tests.alerts.conftest import index_for
from tests.alerts.support import alert_service, finding, write_cluster

ORGS = ("mo-ferrosilicon", "mo-fjernvarme", "mo-greenhouse", "fjordsmolt")


async def test_window_in_good_time_reaches_every_recipient_downstream(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    path = write_cluster(tmp_path, [
        {"org": org, "contact": "ops", "channel": "webhook", "address": org} for org in ORGS],
        alerting={"maintenance_reminder_lead_s": 6 * 3600, "group_window_s": 0})
    index = await index_for(pool, path)
    channel = RecordingChannel()
    service = alert_service(pool, index, fake_clock)
    worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                            AlertSettings())

    async def sent() -> list[tuple[str, str]]:
        before = len(channel.sent)
        await service.tick()
        while await worker.run_due():
            pass
        return sorted((m.address, str(i["event"])) for m in channel.sent[before:]
                      for i in m.items)

    starts = fake_clock.now() + timedelta(hours=200)  # the contract asks 168 h
    refused = await maintenance.announce(
        service, exchange_id="mo-district-heat", org="mo-fjernvarme", actor="x",
        starts_at=starts, ends_at=starts + timedelta(hours=8), reason="")
    assert isinstance(refused, maintenance.Refused)
    assert refused.status == 403
    done = await maintenance.announce(
        service, exchange_id="mo-district-heat", org="mo-ferrosilicon",
        actor="mo-ferrosilicon:ops", starts_at=starts, ends_at=starts + timedelta(hours=8),
        reason="boiler inspection")
    assert isinstance(done, maintenance.Announced)
    assert not done.short_notice
    # District heating and, downstream of it, the greenhouse; the supplier is not flagged.
    assert await sent() == [("mo-fjernvarme", "raised"), ("mo-greenhouse", "raised")]
    fake_clock.advance(200 * 3600 - 6 * 3600 - 60)
    assert await sent() == []
    fake_clock.advance(120)
    assert await sent() == [("mo-fjernvarme", "reminder"), ("mo-greenhouse", "reminder")]
    fake_clock.advance(13 * 3600)  # inside the window, an hour before its end
    assert await sent() == []
    fake_clock.advance(3600)
    assert await sent() == [("mo-fjernvarme", "cleared"), ("mo-greenhouse", "cleared")]


async def test_a_downstream_window_does_not_hide_the_trip_of_the_plant_upstream(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    """District heating announces work on its own supply to the greenhouse; the smelter
    that heats district heating trips meanwhile. The work did not cause that trip: the
    smelter and district heating are paged as ever; only the greenhouse, whose supply the
    window already stops, is not."""
    path = write_cluster(tmp_path, [
        {"org": org, "contact": "ops", "channel": "webhook", "address": org} for org in ORGS],
        alerting={"group_window_s": 0})
    index = await index_for(pool, path)
    channel = RecordingChannel()
    service = alert_service(pool, index, fake_clock)
    worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                            AlertSettings())
    now = fake_clock.now()
    window = await maintenance.announce(
        service, exchange_id="mo-greenhouse", org="mo-fjernvarme", actor="mo-fjernvarme:ops",
        starts_at=now, ends_at=now + timedelta(hours=8), reason="hx3 cleaning")
    assert isinstance(window, maintenance.Announced)
    while await worker.run_due():
        pass
    before = len(channel.sent)

    await service.findings([finding("hx2-disruption", "mo/smelter/hx2/secondary/power",
                                    "disrupted", owner="mo-ferrosilicon", at=now,
                                    value=100.0)])
    while await worker.run_due():
        pass

    paged = sorted({m.address for m in channel.sent[before:]
                    for i in m.items if i["event"] == "raised"})
    assert paged == ["mo-ferrosilicon", "mo-fjernvarme"]
    rows = await pool.fetch("SELECT org, suppressed_by FROM alerts WHERE rule_id = $1",
                            "hx2-disruption")
    assert {r["org"]: r["suppressed_by"] for r in rows} == {
        "mo-ferrosilicon": None, "mo-fjernvarme": None, "mo-greenhouse": window.window_id}
