"""The monitor inside the real app: readings posted to /v1/ingest reach it through the
observer hook, its router answers with the app's token check."""

from __future__ import annotations

import uuid
from datetime import timedelta

from heatlink.testing import FakeClock
from services.access.principal import Role
from services.runtimes import runtimes_of
from services.settings import Settings
from tests.monitor.dbsupport import T0, TANK
from tests.support.service import make_token, running_app


async def test_readings_posted_to_ingest_reach_the_monitor(fresh_database_url: str) -> None:
    clock = FakeClock(T0 + timedelta(minutes=10))
    settings = Settings(database_url=fresh_database_url, retention_days=30)
    async with running_app(settings, clock=clock) as app:
        monitor = runtimes_of(app.app).monitor
        gateway = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                                   gateway="glomfjord-gw1")
        readings = [{"series": TANK, "ts": (T0 + timedelta(seconds=10 * i)).isoformat(),
                     "value": 12.0 if i < 30 else 17.0, "quality": "good"}
                    for i in range(60)]
        async with app.client(gateway) as client:
            answer = await client.post("/v1/ingest", json={
                "gateway": "glomfjord-gw1", "batch_id": uuid.uuid4().hex,
                "readings": readings})
            assert answer.status_code == 200, answer.text
        await monitor.flush()
        farm = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
        async with app.client(farm) as client:
            found = (await client.get("/v1/findings",
                                      params={"rule_id": "tank1-band"})).json()
            assert [f["state"] for f in found] == ["high"]
            rules = await client.get("/v1/rules")
            assert rules.status_code == 200
        async with app.client() as anonymous:
            assert (await anonymous.get("/v1/findings")).status_code == 401
