"""Check 4: an unacknowledged alert escalates to the next level; an acknowledged one does
not; a shelved one stays quiet until its shelf time ends (on a fake clock)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import pytest

from alerts import operations
from alerts.service import AlertService
from alerts.settings import AlertSettings
from alerts.testing import RecordingChannel
from alerts.worker import DeliveryWorker
from heatlink.testing import FakeClock
from tests.alerts.conftest import index_for
from tests.alerts.support import alert_service, trip, write_cluster

ESCALATE_S = 900


@dataclass
class Rig:
    service: AlertService
    worker: DeliveryWorker
    channel: RecordingChannel
    clock: FakeClock

    async def step(self, seconds: float) -> list[tuple[str, str]]:
        """Move time, run the timers and the worker; what went out as (address, event)."""
        before = len(self.channel.sent)
        self.clock.advance(seconds)
        await self.service.tick()
        while await self.worker.run_due():
            pass
        return [(m.address, str(item["event"])) for m in self.channel.sent[before:]
                for item in m.items]

    async def raise_trip(self, rule_id: str) -> int:
        await self.service.findings([trip(rule_id, at=self.clock.now())])
        sent = await self.step(0)
        assert sent == [("night", "raised")]
        alert_id: int = self.channel.sent[-1].items[0]["alert"]["id"]
        return alert_id


@pytest.fixture
async def rig(pool: asyncpg.Pool, fake_clock: FakeClock, tmp_path: Path) -> Rig:
    path = write_cluster(tmp_path, [
        {"org": "fjordsmolt", "contact": "night shift", "channel": "webhook",
         "address": "night"},
        {"org": "fjordsmolt", "contact": "farm manager", "channel": "webhook",
         "address": "manager", "escalation_level": 1},
    ], alerting={"escalate_after_s": ESCALATE_S, "group_window_s": 0})
    index = await index_for(pool, path)
    channel = RecordingChannel()
    service = alert_service(pool, index, fake_clock)
    worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                            AlertSettings())
    return Rig(service, worker, channel, fake_clock)


async def test_unacknowledged_escalates(rig: Rig) -> None:
    await rig.raise_trip("trip-a")
    assert await rig.step(ESCALATE_S - 1) == []
    assert await rig.step(2) == [("manager", "escalated")]
    assert await rig.step(ESCALATE_S * 3) == []  # no level beyond the manager


async def test_acknowledged_does_not_escalate(rig: Rig) -> None:
    alert_id = await rig.raise_trip("trip-b")
    result = await operations.acknowledge(rig.service, alert_id, "fjordsmolt", "fjordsmolt:eva")
    assert isinstance(result, operations.Done)
    assert await rig.step(ESCALATE_S * 2) == []
    # Another organisation cannot touch it.
    other = await operations.acknowledge(rig.service, alert_id, "mo-greenhouse", "x")
    assert isinstance(other, operations.NotFound)


async def test_shelved_stays_quiet_until_the_shelf_ends(rig: Rig) -> None:
    alert_id = await rig.raise_trip("trip-c")
    result = await operations.shelve(rig.service, alert_id, "fjordsmolt", "fjordsmolt:eva",
                                     duration_s=2 * 3600)
    assert isinstance(result, operations.Done)
    assert await rig.step(ESCALATE_S + 1) == []
    # Still active and re-raised while shelved: recorded, not sent.
    cleared = replace(trip("trip-c", at=rig.clock.now()), state="ok",
                      previous_state="disrupted")
    await rig.service.findings([cleared])
    assert await rig.step(1) == []
    await rig.service.findings([trip("trip-c", at=rig.clock.now())])
    assert await rig.step(3600) == []
    assert await rig.step(3600) == [("night", "shelf_expired")]
    assert await rig.step(ESCALATE_S + 1) == [("manager", "escalated")]
    async with rig.service.pool.acquire() as conn:
        events = [r["event"] for r in await conn.fetch(
            "SELECT event FROM alert_transitions WHERE alert_id = $1 ORDER BY id", alert_id)]
    assert events == ["raised", "shelved", "cleared", "returned", "shelf_expired", "escalated"]
