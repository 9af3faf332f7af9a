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
from tests.alerts.support import settled, webhook_receiver, write_cluster
from tests.support.servers import with_database
from tests.support.service import make_token, running_app

pytestmark = pytest.mark.slow


async def test_furnace_trip_through_ingest_monitor_and_alerts(postgres_url: str,
                                                              tmp_path: Path) -> None:
    sim = run_offline("furnace-trip", duration_s=5400)  # the trip comes at one hour
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
                    start += step
            await monitor.flush()
            farm = await hook.wait("/fjordsmolt", timeout_s=30)
            smelter = await hook.wait("/glomfjord-smelter", timeout_s=30)
            await settled(state.pool, clock.now())
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()

    farm_alerts = [n["alert"] for r in hook.at("/fjordsmolt") for n in r.json["notifications"]]
    assert len(farm_alerts) == 1, [a["title"] for a in farm_alerts]
    alert = farm_alerts[0]
    assert alert["kind"] == "supply_disruption"
    assert alert["cause_asset"] == "glomfjord/smelter/hx1"
    assert "Glomfjord Smelter" in alert["title"]
    assert alert["time_to_impact_s"] is not None
    assert 5 * 60 < alert["time_to_impact_s"] < 60 * 60
    assert farm[0].key == hook.at("/fjordsmolt")[0].key
    assert smelter[0].json["notifications"][0]["alert"]["role"] == "supplier"
    assert hook.at("/mo-greenhouse") == []
