"""Alarms of other domains (control's readback alarm) through the alerts' own door: routed
to the organisation's subscriptions, delivered from the outbox, escalated when nobody
acknowledges, cleared once, logged with the raising domain as actor."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from alerts import store
from alerts.alarms import Alarm, Alarms
from alerts.model import Severity
from alerts.settings import AlertSettings
from alerts.testing import RecordingChannel
from alerts.worker import DeliveryWorker
from heatlink.testing import FakeClock
from tests.alerts.conftest import index_for
from tests.alerts.support import alert_service, write_cluster

ESCALATE_S = 900
POINT = "glomfjord/smoltfarm/tank1/temp_setpoint"
KEY = f"control:{POINT}"


def mismatch(value: float = 12.0) -> Alarm:
    return Alarm(source="control", key=KEY, org="fjordsmolt", severity=Severity.ALARM,
                 condition="readback_mismatch", subject=POINT,
                 text="ramp 7: asked 11.5, gateway answered refused (read back 12.0)",
                 value=value)


async def test_an_alarm_is_delivered_escalated_and_cleared_once(
        pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> None:
    path = write_cluster(tmp_path, [
        {"org": "fjordsmolt", "contact": "night shift", "channel": "webhook",
         "address": "night"},
        {"org": "fjordsmolt", "contact": "farm manager", "channel": "webhook",
         "address": "manager", "escalation_level": 1},
        {"org": "glomfjord-smelter", "contact": "control room", "channel": "webhook",
         "address": "smelter"},
    ], alerting={"escalate_after_s": ESCALATE_S, "group_window_s": 0})
    index = await index_for(pool, path)
    channel = RecordingChannel()
    service = alert_service(pool, index, fake_clock)
    alarms: Alarms = service  # the real alert service is the door
    worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                            AlertSettings())

    async def step(seconds: float = 0) -> list[tuple[str, str]]:
        before = len(channel.sent)
        fake_clock.advance(seconds)
        await service.tick()
        while await worker.run_due():
            pass
        return [(m.address, str(item["event"])) for m in channel.sent[before:]
                for item in m.items]

    await alarms.raise_alarm(mismatch())
    assert await step() == [("night", "raised")]  # the point's owner, nobody else
    alert = channel.sent[-1].items[0]["alert"]
    assert (alert["kind"], alert["rule_id"], alert["condition"], alert["severity"]) == (
        "control", KEY, "readback_mismatch", "alarm")
    assert alert["title"].startswith(f"{POINT}: ramp 7: asked 11.5")
    assert alert["detail"]["value"] == 12.0

    await alarms.raise_alarm(mismatch(12.1))  # seen again: the same alert, no second page
    assert await step() == []
    assert await step(ESCALATE_S + 1) == [("manager", "escalated")]

    # Another domain cannot end it, nor can a key it never raised.
    await alarms.clear_alarm("monitor", KEY, "fjordsmolt", "not mine")
    await alarms.clear_alarm("control", "control:elsewhere", "fjordsmolt", "no such")
    assert await step() == []

    await alarms.clear_alarm("control", KEY, "fjordsmolt", "ramp 7 resumed by the operator")
    assert sorted(await step()) == [("manager", "cleared"), ("night", "cleared")]
    await alarms.clear_alarm("control", KEY, "fjordsmolt", "again")
    assert await step() == []

    async with pool.acquire() as conn:
        row = await store.lock(conn, KEY, "fjordsmolt")
        assert row is not None
        log = await store.transitions(conn, row.id)
    assert [(t["actor"], t["event"]) for t in log] == [
        ("control", "raised"), ("system", "escalated"), ("control", "cleared")]
    assert row.detail["detail"] == "ramp 7 resumed by the operator"
