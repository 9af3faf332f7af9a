"""Check 1 end to end: the simulated furnace trip's readings go through /v1/ingest, the
monitor finds the disruption, and the smolt farm's webhook receives one alert naming the
upstream cause with a time to impact; the smelter hears of it; the greenhouse does not."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from heatlink.testing import FakeClock
from services.access.principal import Role
from services.runtimes import runtimes_of
from services.settings import Settings
from simulators.offline import run_offline
from tests.alerts.support import WebhookReceiver, settled, webhook_receiver, write_cluster
from tests.support.servers import with_database
from tests.support.service import make_token, running_app

pytestmark = pytest.mark.slow


async def _through_the_service(postgres_url: str, tmp_path: Path, duration_s: float
                               ) -> WebhookReceiver:
    """The furnace-trip scenario's Glomfjord readings, a minute at a time, through
    /v1/ingest, the monitor and the alerts; the receiver holds what each company got."""
    sim = run_offline("furnace-trip", duration_s=duration_s)
    readings = [r for r in sim.readings if r.series.startswith("glomfjord/")]
    name = f"heatlink_e2e_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(postgres_url, name)
    clock = FakeClock(sim.start)
    async with webhook_receiver() as hook:
        cluster = write_cluster(tmp_path, [
            {"org": org, "contact": "on call", "channel": "webhook",
             "address": hook.url(f"/{org}")}
            for org in ("fjordsmolt", "glomfjord-smelter", "mo-greenhouse")],
            alerting={"group_window_s": 0})
        async with running_app(Settings(database_url=url, cluster_file=cluster,
                                        retention_days=30), clock=clock) as app:
            state = runtimes_of(app.app)
            monitor = state.monitor
            token = await make_token(url, "glomfjord-smelter", Role.GATEWAY,
                                     gateway="glomfjord-gw1")
            async with app.client(token) as gateway:
                # A minute at a time, the clock at the newest reading: nothing looks
                # stale or from the future.
                step = timedelta(minutes=1)
                start = sim.start
                while start <= readings[-1].ts:
                    batch = [r for r in readings if start <= r.ts < start + step]
                    clock.set(batch[-1].ts)
                    response = await gateway.post("/v1/ingest", json={
                        "gateway": "glomfjord-gw1", "batch_id": uuid.uuid4().hex,
                        "readings": [{"series": r.series, "ts": r.ts.isoformat(),
                                      "value": r.value, "quality": r.quality}
                                     for r in batch]})
                    assert response.status_code == 200, response.text
                    assert not response.json()["rejected"]
                    # Evaluated before the clock moves on, as a live service that keeps up:
                    # the monitor takes each minute alone and the alerts' "now" is that
                    # minute. Once, in a full run on a loaded machine, the farm got a second
                    # page (symptom_escalated, by a band alert of its own) when the monitor
                    # was left to take the minutes at its own pace. Not reproduced alone,
                    # under load, or with the monitor held back 1 to 10 minutes: this takes
                    # one unknown out; the message below says more should it happen again.
                    await monitor.flush()
                    start += step
            await monitor.flush()
            await hook.wait("/fjordsmolt", timeout_s=30)
            await hook.wait("/glomfjord-smelter", timeout_s=30)
            await settled(state.pool, clock.now())
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()

    return hook


async def test_furnace_trip_through_ingest_monitor_and_alerts(postgres_url: str,
                                                              tmp_path: Path) -> None:
    hook = await _through_the_service(postgres_url, tmp_path, 5400)  # the trip at one hour
    farm = hook.at("/fjordsmolt")
    smelter = hook.at("/glomfjord-smelter")
    farm_alerts = [n["alert"] for r in hook.at("/fjordsmolt") for n in r.json["notifications"]]
    assert len(farm_alerts) == 1, [  # short enough that pytest does not cut the middle out
        (n["event"], n["alert"]["id"], n["alert"]["time_to_impact_s"],
         {k: (n.get("symptom") or {}).get(k)
          for k in ("id", "kind", "rule_id", "condition", "time_to_impact_s")})
        for r in hook.at("/fjordsmolt") for n in r.json["notifications"]]
    alert = farm_alerts[0]
    assert alert["kind"] == "supply_disruption"
    # Seen first at the furnace's own heat output; HX-1's disruption is the same cause.
    assert alert["cause_asset"] == "glomfjord/smelter/furnace"
    assert "Glomfjord Smelter" in alert["title"]
    assert alert["time_to_impact_s"] is not None
    assert 5 * 60 < alert["time_to_impact_s"] < 60 * 60
    assert farm[0].key == hook.at("/fjordsmolt")[0].key
    assert smelter[0].json["notifications"][0]["alert"]["role"] == "supplier"
    assert hook.at("/mo-greenhouse") == []


async def test_the_restart_warns_the_farm_ahead_and_tells_the_smelter_its_ramp(
        postgres_url: str, tmp_path: Path) -> None:
    """Two hours after the trip the furnace comes back at full heat into the cold tank: the
    farm hears of the coming 2 K/h rise before the tank crosses it (the trip's alert,
    escalated), and the smelter how slowly to bring HX-1 back."""
    hook = await _through_the_service(postgres_url, tmp_path, 11_300)  # crossing at 11332 s
    farm = [n for r in hook.at("/fjordsmolt") for n in r.json["notifications"]]
    assert [n["event"] for n in farm] == ["raised", "symptom_escalated"]
    assert farm[1]["symptom"]["condition"] == "predicted_rising"
    assert farm[1]["alert"]["id"] == farm[0]["alert"]["id"]  # one episode, one alert
    smelter = [n["alert"] for r in hook.at("/glomfjord-smelter")
               for n in r.json["notifications"]]
    advice = [a for a in smelter if a["kind"] == "restart_ramp"]
    assert len(advice) == 1
    assert advice[0]["title"].startswith("Bring Plate exchanger HX-1 back over at least")
    assert advice[0]["detail"]["slowest_ramp_s"] > 3600  # a cold tank: hours, not minutes
