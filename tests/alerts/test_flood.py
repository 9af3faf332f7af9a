"""Flood control: notifications to one address within the group window travel as one
message; past the hourly limit they are held and sent later as one summary; none dropped."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from alerts.settings import AlertSettings
from alerts.testing import RecordingChannel
from alerts.worker import DeliveryWorker
from heatlink.testing import FakeClock
from tests.alerts.conftest import index_for
from tests.alerts.support import TANK_TEMP, alert_service, finding, write_cluster


async def test_grouped_then_held_then_summarised(pool: asyncpg.Pool, fake_clock: FakeClock,
                                                 tmp_path: Path) -> None:
    path = write_cluster(tmp_path, [
        {"org": "fjordsmolt", "contact": "night shift", "channel": "webhook",
         "address": "night"}], alerting={"group_window_s": 30, "max_notifications_per_hour": 2})
    index = await index_for(pool, path)
    channel = RecordingChannel()
    service = alert_service(pool, index, fake_clock)
    worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                            AlertSettings())

    async def raise_trip(n: int) -> None:
        # Conditions of their own (trips of one exchange, or lows of one tank, would be one
        # episode, one page): the tank's readings stale, by five rules.
        await service.findings([finding(f"tank-{n}", TANK_TEMP, "unknown", kind="stale",
                                        owner="fjordsmolt", at=fake_clock.now())])
        while await worker.run_due():
            pass

    await raise_trip(0)
    assert [len(m.items) for m in channel.sent] == [1]  # the first goes at once
    fake_clock.advance(1)
    await raise_trip(1)
    await raise_trip(2)
    assert len(channel.sent) == 1  # waiting for the window to close
    fake_clock.advance(30)
    await worker.run_due()
    assert [len(m.items) for m in channel.sent] == [1, 2]
    assert channel.sent[1].summary == "2 heatlink notifications (grouped)"

    fake_clock.advance(10)
    await raise_trip(3)
    await raise_trip(4)
    fake_clock.advance(30)
    await worker.run_due()
    assert len(channel.sent) == 2  # two messages this hour already: held back
    held = await pool.fetchval(
        "SELECT count(*) FROM alert_delivery_attempts WHERE outcome = 'held'")
    assert held == 2
    fake_clock.advance(3600)
    await worker.run_due()
    assert [len(m.items) for m in channel.sent] == [1, 2, 2]
    rules = [item["alert"]["rule_id"] for m in channel.sent for item in m.items]
    assert sorted(rules) == [f"tank-{n}" for n in range(5)]
    assert await pool.fetchval(
        "SELECT count(*) FROM alert_deliveries WHERE status = 'delivered'") == 5
