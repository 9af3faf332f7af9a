"""Check 2: the service is killed while a webhook is still answering; after a restart every
alert is delivered, each message with the same idempotency key it had before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from heatlink.clock import SystemClock
from tests.alerts.conftest import index_for
from tests.alerts.support import TANK_TEMP, alert_service, finding, webhook_receiver, write_cluster
from tests.support.service import ServiceProcess


async def test_killed_mid_delivery_then_restarted(pool: asyncpg.Pool, fresh_database_url: str,
                                                  tmp_path: Path) -> None:
    async with webhook_receiver() as hook:
        cluster = write_cluster(tmp_path, [
            {"org": "fjordsmolt", "contact": "night shift", "channel": "webhook",
             "address": hook.url("/farm")},
            {"org": "glomfjord-smelter", "contact": "control room", "channel": "webhook",
             "address": hook.url("/smelter")},
        ], alerting={"group_window_s": 0})
        index = await index_for(pool, cluster)
        # Another process records the alerts and their deliveries (as the monitor would).
        service = alert_service(pool, index, SystemClock())
        # Three conditions of each company's own (trips of one exchange, or lows of one
        # tank, would be one episode, one page): six deliveries.
        await service.findings(
            [finding(f"tank-{n}", TANK_TEMP, "unknown", kind="stale", owner="fjordsmolt")
             for n in range(3)]
            + [finding(f"hx1-stale-{n}", "glomfjord/smelter/hx1/primary/supply_temp",
                       "unknown", kind="stale") for n in range(3)])
        expected = {r["idempotency_key"] for r in await pool.fetch(
            "SELECT idempotency_key FROM alert_deliveries")}
        assert len(expected) == 6

        hook.hang = True  # the receiver takes the requests and never answers
        process = ServiceProcess(fresh_database_url, cluster_file=cluster, env={
            "HEATLINK_ALERTS_LEASE_S": "1", "HEATLINK_ALERTS_POLL_S": "0.2",
            "HEATLINK_ALERTS_RETRY_BASE_S": "0.5"})
        process.start()
        try:
            await hook.wait("/farm")
            await hook.wait("/smelter")
            process.kill()
            first = {path: hook.at(path)[0].key for path in ("/farm", "/smelter")}
            hook.hang = False
            hook.released.set()
            process.start()
            await hook.wait("/farm", 2, timeout_s=30)
            await hook.wait("/smelter", 2, timeout_s=30)
            for _ in range(100):
                left = await pool.fetchval(
                    "SELECT count(*) FROM alert_deliveries WHERE status <> 'delivered'")
                if left == 0:
                    break
                await asyncio.sleep(0.1)  # the service records in its own process
            assert left == 0
            histories = await pool.fetch(
                """SELECT delivery_id, array_agg(outcome ORDER BY id) AS outcomes,
                          bool_and(finished_at IS NOT NULL) AS finished
                   FROM alert_delivery_attempts GROUP BY delivery_id""")
        finally:
            process.stop()
    for path in ("/farm", "/smelter"):
        again = hook.at(path)[1]
        assert again.key == first[path]
        assert again.body == hook.at(path)[0].body, "the same message, byte for byte"
    # The attempt cut short by the kill stays on record, unfinished; then the delivery.
    assert len(histories) == 6
    assert all(r["outcomes"] == ["sending", "delivered"] for r in histories)
    assert not any(r["finished"] for r in histories)
    sent = {n["idempotency_key"] for r in hook.requests.items
            for n in r.json["notifications"]}
    assert sent == expected
