"""Check 1 (and the API): a furnace trip reaches the smolt farm on every channel with its
upstream cause and time to impact; the smelter hears of it too; an unrelated company hears
nothing. Check 5: an announced maintenance window is told in advance and its trip does not
page as a surprise. The service runs in this process on a fake clock, with real receivers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from alerts.runtime import AlertsRuntime
from heatlink.testing import FakeClock
from heatlink.webhooks import verify
from services.access.principal import Role
from services.runtimes import runtimes_of
from services.settings import Settings
from tests.alerts.support import (
    T0,
    TANK_TEMP,
    WebhookReceiver,
    _Arrivals,
    finding,
    mail_parts,
    mqtt_subscriber,
    settled,
    smtp_server,
    trip,
    webhook_receiver,
    write_cluster,
)
from tests.support.service import AppHandle, make_token, running_app

ORGS = {"glomfjord-smelter": Role.OPERATOR, "fjordsmolt": Role.RECIPIENT,
        "mo-greenhouse": Role.RECIPIENT}


@dataclass
class World:
    app: AppHandle
    clock: FakeClock
    hook: WebhookReceiver
    mails: _Arrivals
    mqtt: _Arrivals
    tokens: dict[str, str]
    pool: asyncpg.Pool

    @property
    def alerts(self) -> AlertsRuntime:
        runtime: AlertsRuntime = runtimes_of(self.app.app).alerts
        return runtime

    def client(self, org: str) -> httpx.AsyncClient:
        return self.app.client(self.tokens[org])

    async def settled(self) -> None:
        await settled(self.pool, self.clock.now())


@pytest.fixture(scope="module")
async def world(postgres_url: str, mqtt_url: str,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    import uuid

    from tests.support.servers import with_database

    name = f"heatlink_alerts_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(postgres_url, name)
    folder: Path = tmp_path_factory.mktemp("alerts")
    clock = FakeClock(T0)
    async with webhook_receiver() as hook, smtp_server() as (smtp_url, mails), \
            mqtt_subscriber(mqtt_url, "heatlink/fjordsmolt/alerts") as mqtt_in:
        cluster = write_cluster(folder, [
            {"org": "fjordsmolt", "contact": "night shift", "channel": "webhook",
             "address": hook.url("/farm"), "secret_env": "HEATLINK_TEST_FARM_SECRET"},
            {"org": "fjordsmolt", "contact": "night shift", "channel": "email",
             "address": "vakt@fjordsmolt.example"},
            {"org": "fjordsmolt", "contact": "control room", "channel": "mqtt",
             "address": "heatlink/fjordsmolt/alerts", "min_severity": "alarm"},
            {"org": "fjordsmolt", "contact": "dashboard", "channel": "dashboard",
             "address": "fjordsmolt"},
            {"org": "glomfjord-smelter", "contact": "control room", "channel": "webhook",
             "address": hook.url("/smelter")},
            {"org": "mo-greenhouse", "contact": "grower", "channel": "webhook",
             "address": hook.url("/greenhouse")},
        ], alerting={"group_window_s": 0})
        with pytest.MonkeyPatch.context() as env:
            env.setenv("HEATLINK_TEST_FARM_SECRET", "farm-secret")
            env.setenv("HEATLINK_ALERTS_SMTP_URL", smtp_url)
            env.setenv("HEATLINK_ALERTS_MQTT_URL", mqtt_url)
            env.setenv("HEATLINK_ALERTS_LINK_SECRET", "link-secret")
            env.setenv("HEATLINK_ALERTS_PUBLIC_URL", "http://heatlink.example")
            settings = Settings(database_url=url, cluster_file=cluster)
            async with running_app(settings, clock=clock) as app:
                tokens = {org: await make_token(url, org, role) for org, role in ORGS.items()}
                tokens["fjordsmolt operator"] = await make_token(url, "fjordsmolt",
                                                                 Role.OPERATOR)
                pool = runtimes_of(app.app).pool
                # The tank is at 12 °C when the trip happens.
                await pool.execute(
                    """INSERT INTO readings (series_id, ts, value)
                       SELECT id, $2, 12.0 FROM series WHERE key = $1""",
                    TANK_TEMP, T0 - timedelta(seconds=10))
                yield World(app, clock, hook, mails, mqtt_in, tokens, pool)
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def test_furnace_trip_reaches_recipient_and_supplier_only(world: World) -> None:
    await world.alerts.service.findings([trip()])
    farm = await world.hook.wait("/farm")
    smelter = await world.hook.wait("/smelter")
    mails = await world.mails.wait_for(lambda items: len(items) >= 1)
    mqtt_in = await world.mqtt.wait_for(lambda items: len(items) >= 1)
    await world.settled()

    assert len(farm) == 1, "one alert for the recipient"
    request = farm[0]
    assert verify(b"farm-secret", request.headers, request.body,
                  world.clock.now().timestamp()) == request.key
    assert request.key.startswith("hl-")
    [note] = request.json["notifications"]
    alert = note["alert"]
    assert alert["org"] == "fjordsmolt"
    assert alert["role"] == "recipient"
    assert alert["cause_asset"] == "glomfjord/smelter/hx1"
    assert "Plate exchanger HX-1" in alert["title"]
    assert "Glomfjord Smelter" in alert["title"]
    assert alert["asset"] == "glomfjord/smoltfarm/tank1"
    # Pipe P-1: 15 m³ at 180 m³/h = 300 s; tank τ = 190/180 h, 12 → 10 °C toward 2 °C.
    assert alert["time_to_impact_s"] == pytest.approx(300 + 3800 * 0.22314, rel=1e-3)
    assert alert["severity"] == "alarm"
    assert "Start backup heater B-2 on tank T-1" in alert["detail"]["contingency"]

    assert len(smelter) == 1
    assert smelter[0].json["notifications"][0]["alert"]["role"] == "supplier"
    assert "webhook-signature" not in smelter[0].headers  # no secret configured

    text, html = mail_parts(mails[0])
    assert "Upstream cause: Plate exchanger HX-1" in text
    assert "Predicted time to your limit: 19 min" in text
    assert "Your limit: below 10.0 °C" in text
    assert "Start backup heater B-2" in html
    topic, payload, qos = mqtt_in[0]
    assert (topic, qos) == ("heatlink/fjordsmolt/alerts", 1)
    assert b"glomfjord/smelter/hx1" in payload
    assert world.hook.at("/greenhouse") == []
    # The dashboard subscription reaches the live stream, for the farm's eyes only.
    events, _, _ = runtimes_of(world.app.app).live.hub.read(0)
    shown = [e for e in events if e.kind == "alert"]
    assert len(shown) == 1
    assert shown[0].orgs == frozenset({"fjordsmolt"})

    # The API shows each organisation its own alerts only.
    async with world.client("fjordsmolt") as farm_api:
        listed = (await farm_api.get("/v1/alerts")).json()["alerts"]
    assert [a["id"] for a in listed] == [alert["id"]]
    async with world.client("mo-greenhouse") as other:
        assert (await other.get("/v1/alerts")).json()["alerts"] == []
        assert (await other.get(f"/v1/alerts/{alert['id']}")).status_code == 404
        assert (await other.post(f"/v1/alerts/{alert['id']}/ack")).status_code == 404

    # The same finding handed over again (a monitor restart) changes nothing.
    await world.alerts.service.findings([trip()])
    await world.settled()
    assert len(world.hook.at("/farm")) == 1

    # The tank cooling that follows is a symptom: grouped under the trip, not paged.
    world.clock.advance(600)
    await world.alerts.service.findings([finding("tank1-band", TANK_TEMP, "low",
                                                 kind="band", owner="fjordsmolt",
                                                 at=world.clock.now(), value=9.8)])
    await world.settled()
    assert len(world.hook.at("/farm")) == 1
    async with world.client("fjordsmolt") as farm_api:
        listed = (await farm_api.get("/v1/alerts")).json()["alerts"]
        symptom = next(a for a in listed if a["rule_id"] == "tank1-band")
        assert symptom["parent_id"] == alert["id"]
        root = (await farm_api.get(f"/v1/alerts/{alert['id']}")).json()
    assert "symptom_grouped" in [t["event"] for t in root["transitions"]]
    assert all(d["status"] == "delivered" for d in root["deliveries"])

    # The signed link in the e-mail opens a page that asks; only its button (a POST)
    # acknowledges, since mail scanners follow links. A tampered link is refused.
    link = note["links"]["acknowledge"].replace("http://heatlink.example", "")
    async with httpx.AsyncClient(base_url=world.app.url) as anonymous:
        assert (await anonymous.get(link.replace("sig=", "sig=0"))).status_code == 403
        assert (await anonymous.post(link.replace("sig=", "sig=0"))).status_code == 403
        page = await anonymous.get(link)
        assert page.status_code == 200
        assert '<form method="post">' in page.text
        assert "Acknowledge?" in page.text
        async with world.client("fjordsmolt") as farm_api:
            shown = (await farm_api.get(f"/v1/alerts/{alert['id']}")).json()
        assert shown["alert"]["state"] == "active_unack"  # opening the link changed nothing
        pressed = await anonymous.post(link)
        assert pressed.status_code == 200
        assert "Acknowledged" in pressed.text
    async with world.client("fjordsmolt") as farm_api:
        detail = (await farm_api.get(f"/v1/alerts/{alert['id']}")).json()
    assert detail["alert"]["state"] == "active_ack"
    ack = detail["transitions"][-1]
    assert (ack["event"], ack["actor"]) == ("acknowledged", "fjordsmolt:e-mail link")


async def test_maintenance_window_is_told_ahead_and_its_trip_does_not_page(
        world: World) -> None:
    starts = world.clock.now() + timedelta(hours=3)
    async with world.client("fjordsmolt") as farm_api:
        refused = await farm_api.post("/v1/maintenance", json={
            "exchange": "glomfjord-smolt", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat()})
    assert refused.status_code == 403  # a recipient token lacks the safety scope
    async with world.client("glomfjord-smelter") as smelter_api:
        answer = await smelter_api.post("/v1/maintenance", json={
            "exchange": "glomfjord-smolt", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "reason": "furnace relining"})
    assert answer.status_code == 201, answer.text
    # Three hours' notice against the contract's 72: flagged to both parties.
    assert answer.json()["short_notice"] is True
    farm_before = len(world.hook.at("/farm"))
    farm = await world.hook.wait("/farm", farm_before + 1)
    notice = farm[-1].json["notifications"][0]
    assert notice["alert"]["kind"] == "maintenance"
    assert "contract asks 72 h" in notice["alert"]["title"]
    smelter = await world.hook.wait("/smelter", 2)
    assert smelter[-1].json["notifications"][0]["alert"]["kind"] == "maintenance"

    # Told again at the lead time (an hour before).
    world.clock.advance(2 * 3600 + 60)
    await world.alerts.service.tick()
    farm = await world.hook.wait("/farm", farm_before + 2)
    assert farm[-1].json["notifications"][0]["event"] == "reminder"

    # The trip inside the window is suppressed by design: recorded, not paged.
    world.clock.advance(3600)
    await world.alerts.service.findings([trip("hx1-disruption-relining",
                                              at=world.clock.now())])
    await world.settled()
    assert len(world.hook.at("/farm")) == farm_before + 2
    async with world.client("fjordsmolt") as farm_api:
        listed = (await farm_api.get("/v1/alerts")).json()["alerts"]
    tripped = next(a for a in listed if a["rule_id"] == "hx1-disruption-relining")
    assert tripped["suppressed_by"] == answer.json()["id"]
    assert world.hook.at("/greenhouse") == []

    # The first trip still stands: the relining trip is the same root cause, grouped
    # under it too. When the window ends its notice clears; the trip, still grouped under
    # the root the farm was paged for, does not page again.
    assert tripped["parent_id"] is not None
    world.clock.advance(2 * 3600)
    await world.alerts.service.tick()
    await world.settled()
    after = [(n["event"], n["alert"]["kind"]) for r in world.hook.at("/farm")[farm_before + 2:]
             for n in r.json["notifications"]]
    assert sorted(after) == [("cleared", "maintenance")]


async def test_operators_handle_alerts_through_the_api(world: World) -> None:
    # The earlier trips end first: while one is active, another on the exchange groups
    # under it.
    async with world.client("fjordsmolt") as farm_api:
        listed = (await farm_api.get("/v1/alerts")).json()["alerts"]
    world.clock.advance(60)
    start = len(world.hook.at("/farm"))
    await world.alerts.service.findings([
        replace(trip(rule, at=world.clock.now()), state="ok", previous_state="disrupted")
        for rule in ("hx1-disruption", "hx1-disruption-relining")])
    await world.settled()
    # The episode ends with one message: the root cause cleared, naming what is still
    # active (the tank still too cold after the supply returned), which pages no more.
    told = [n for r in world.hook.at("/farm")[start:] for n in r.json["notifications"]]
    assert [(n["event"], n["alert"]["kind"]) for n in told] == [("cleared",
                                                                  "supply_disruption")]
    assert [a["title"] for a in told[0]["still_active"]] == [
        a["title"] for a in listed if a["rule_id"] == "tank1-band"]
    world.clock.advance(1800)  # past the grace period of the maintenance window before
    before = len(world.hook.at("/farm"))
    await world.alerts.service.findings([trip("hx1-disruption-api", at=world.clock.now())])
    farm = await world.hook.wait("/farm", before + 1)
    alert = farm[-1].json["notifications"][0]["alert"]
    link = farm[-1].json["notifications"][0]["links"]["acknowledge"]
    path = f"/v1/alerts/{alert['id']}"
    async with world.client("fjordsmolt") as api:
        # Shelving and out of service need the safety scope, which a recipient token lacks.
        week = await api.post(f"{path}/shelve", json={"duration_s": 7 * 86400})
        assert week.status_code == 403
        assert (await api.post(f"{path}/out-of-service", json={})).status_code == 403
    async with world.client("fjordsmolt operator") as operator:
        shelved = (await operator.post(f"{path}/shelve", json={"duration_s": 600,
                                                               "reason": "known"})).json()
        assert shelved["alert"]["shelved_until"] is not None
        assert (await operator.post(f"{path}/unshelve")).json()["changed"] is True
    async with world.client("fjordsmolt") as api:
        acked = (await api.post(f"{path}/ack")).json()
        assert (acked["changed"], acked["alert"]["state"]) == (True, "active_ack")
        again = (await api.post(f"{path}/ack")).json()
        assert again["changed"] is False
        history = (await api.get(path)).json()["transitions"]
        failed = (await api.get("/v1/alert-deliveries")).json()["deliveries"]
    assert [t["event"] for t in history] == ["raised", "shelved", "unshelved", "acknowledged"]
    assert {t["actor"] for t in history[1:]} == {"fjordsmolt:test"}
    assert failed == []
    async with world.client("glomfjord-smelter") as smelter:
        oos = await smelter.post(f"{path}/out-of-service", json={})
        assert oos.status_code == 404  # another organisation's alert
    # A link past its expiry is refused.
    world.clock.advance(2 * 86400)
    async with httpx.AsyncClient(base_url=world.app.url) as anonymous:
        expired = await anonymous.get(link.replace("http://heatlink.example", ""))
    assert expired.status_code == 403
    assert "expired" in expired.text
