"""Check 3: the recipient's webhook is down for a while; the alert arrives after it returns,
and every attempt is recorded. A permanent refusal, and a day of failures, are marked failed
where the API shows them."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from alerts.channels.webhook import WebhookChannel
from alerts.model import Fail
from alerts.settings import AlertSettings
from alerts.testing import RecordingChannel
from alerts.worker import DeliveryWorker
from heatlink.testing import FakeClock
from heatlink.webhooks import verify
from tests.alerts.conftest import index_for
from tests.alerts.support import alert_service, trip, webhook_receiver, write_cluster

SETTINGS = AlertSettings(retry_base_s=10, retry_max_s=600, lease_s=60)


async def test_webhook_down_then_back(pool: asyncpg.Pool, fake_clock: FakeClock,
                                      tmp_path: Path, monkeypatch: object) -> None:
    import os

    os.environ["HEATLINK_TEST_HOOK_SECRET"] = "s3cret"
    async with webhook_receiver() as hook:
        path = write_cluster(tmp_path, [
            {"org": "fjordsmolt", "contact": "night shift", "channel": "webhook",
             "address": hook.url("/farm"), "secret_env": "HEATLINK_TEST_HOOK_SECRET"}])
        index = await index_for(pool, path)
        service = alert_service(pool, index, fake_clock)
        channel = WebhookChannel(timeout_s=5, clock=fake_clock)
        worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                                SETTINGS)
        try:
            hook.status = 503
            await service.findings([trip()])
            assert await worker.run_due() == 1
            fake_clock.advance(5)
            assert await worker.run_due() == 0  # the backoff is data: not due yet
            fake_clock.advance(10)
            assert await worker.run_due() == 1
            hook.status = 200
            fake_clock.advance(20)
            assert await worker.run_due() == 1
        finally:
            await channel.close()
        seen = hook.at("/farm")
        assert len(seen) == 3
        assert len({r.key for r in seen}) == 1, "every attempt carries the same key"
        # The same webhook-id on every attempt, each signed at the time it was sent.
        assert {verify(b"s3cret", r.headers, r.body, fake_clock.now().timestamp())
                for r in seen} == {seen[0].key}
        stamps = [int(r.headers["webhook-timestamp"]) for r in seen]
        assert stamps[0] < stamps[1] < stamps[2] == int(fake_clock.now().timestamp())
        body = seen[-1].json
        assert body["notifications"][0]["alert"]["org"] == "fjordsmolt"
    rows = await pool.fetch(
        """SELECT a.outcome, a.detail FROM alert_delivery_attempts a
           JOIN alert_deliveries d ON d.id = a.delivery_id ORDER BY a.id""")
    assert [r["outcome"] for r in rows] == ["retry", "retry", "delivered"]
    assert rows[0]["detail"] == "HTTP 503"
    status = await pool.fetchval("SELECT status FROM alert_deliveries")
    assert status == "delivered"


async def test_refused_and_exhausted_are_marked_failed(pool: asyncpg.Pool,
                                                       fake_clock: FakeClock,
                                                       tmp_path: Path) -> None:
    path = write_cluster(tmp_path, [
        {"org": "fjordsmolt", "contact": "a", "channel": "webhook", "address": "http://a"},
        {"org": "glomfjord-smelter", "contact": "b", "channel": "webhook",
         "address": "http://b"}], alerting={"retry_for_s": 100})
    index = await index_for(pool, path)
    service = alert_service(pool, index, fake_clock)

    class PerAddress(RecordingChannel):
        async def send(self, message: object) -> object:  # type: ignore[override]
            from alerts.model import Message, Retry

            assert isinstance(message, Message)
            self.sent.append(message)
            return Fail("HTTP 410") if message.address == "http://a" else Retry("down")

    channel = PerAddress()
    worker = DeliveryWorker(pool, fake_clock, {"webhook": channel}, index.cluster.alerting,
                            SETTINGS)
    await service.findings([trip()])
    assert await worker.run_due() == 2
    for _ in range(5):
        fake_clock.advance(60)
        await worker.run_due()
    rows = await pool.fetch("SELECT address, status, last_error, attempts "
                            "FROM alert_deliveries ORDER BY address")
    assert [(r["address"], r["status"]) for r in rows] == [("http://a", "failed"),
                                                          ("http://b", "failed")]
    assert rows[0]["attempts"] == 1
    assert "gave up" in rows[1]["last_error"]
