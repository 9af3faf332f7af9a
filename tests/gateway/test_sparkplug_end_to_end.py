"""A simulated Sparkplug edge node, Mosquitto, the gateway and the real service: values reach
the store converted from the plant's units, and a node's death makes its series unknown in
the service and its stale rule fire at the death, not a stale rule's max age later."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from heatlink.clock import SystemClock
from services.access.principal import Role
from services.settings import Settings
from simulators.sparkplug_edge import EdgeMetric, SparkplugEdgeNode
from tests.gateway.support import config_for, running
from tests.gateway.test_sparkplug import group_name, sparkplug_source
from tests.support.service import AppHandle, make_token, running_app

pytestmark = pytest.mark.slow
SUPPLY = "glomfjord/smelter/hx1/primary/supply_temp"
FLOW = "glomfjord/smelter/hx1/primary/flow"


async def readings_of(app: AppHandle, token: str, series: str,
                      since: datetime) -> list[dict[str, object]]:
    async with app.client(token) as client:
        answer = await client.get(f"/v1/series/{series}/readings", params={
            "start": since.isoformat(), "end": (since + timedelta(hours=1)).isoformat()})
        assert answer.status_code == 200, answer.text
        points: list[dict[str, object]] = answer.json()["points"]
        return points


async def test_sparkplug_values_and_a_death_reach_the_service(
        fresh_database_url: str, mqtt_url: str, tmp_path: Path) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    settings = Settings(database_url=fresh_database_url, retention_days=30)
    async with running_app(settings, clock=SystemClock()) as app:
        gateway_token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                                         gateway="glomfjord-gw1")
        operator = await make_token(fresh_database_url, "glomfjord-smelter", Role.OPERATOR)
        group = group_name()
        config = config_for(tmp_path, [sparkplug_source(mqtt_url, group)], url=app.url,
                            token=gateway_token)
        edge = SparkplugEdgeNode(mqtt_url, group, "smelter-edge", {"hx1": [
            EdgeMetric("Primary/SupplyTemp", 1, 31.0, unit="°C"),
            EdgeMetric("Primary/Flow", 2, 50.0, "Float", unit="l/s")]},
            primary_host=f"heatlink-{group}")
        async with running(config):
            await edge.start()
            # A millisecond after the birth: the birth's 31.0 and this 31.4 at one instant
            # would be a conflict the service rightly quarantines.
            edge.data("hx1", {"Primary/SupplyTemp": 31.4},
                      ts=datetime.now(UTC) + timedelta(milliseconds=20))

            async def stored(series: str, n: int) -> list[dict[str, object]]:
                points: list[dict[str, object]] = []

                async def check() -> bool:
                    nonlocal points
                    points = await readings_of(app, operator, series, since)
                    return len(points) >= n

                await _until(check)
                return points

            supply = await stored(SUPPLY, 2)
            assert [p["value"] for p in supply] == [31.0, 31.4]
            flow = await stored(FLOW, 1)
            assert flow[0]["value"] == pytest.approx(50.0 * 3.6)  # l/s into the series' m3/h
            await edge.die()
            supply = await stored(SUPPLY, 3)
            assert (supply[-1]["value"], supply[-1]["quality"]) == (31.4, "unknown")
            death_ts = datetime.fromisoformat(str(supply[-1]["ts"]))
        async with app.client(operator) as client:
            found: list[dict[str, object]] = []

            async def stale_fired() -> bool:
                nonlocal found
                found = (await client.get("/v1/findings",
                                          params={"rule_id": "hx1-stale"})).json()
                return any(f["state"] == "unknown" for f in found)

            await _until(stale_fired)
        unknown = [f for f in found if f["state"] == "unknown"]
        assert datetime.fromisoformat(str(unknown[0]["ts"])) == death_ts


async def _until(probe: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    """Ask the service again until it answers as expected (another system: nothing to
    await)."""
    async with asyncio.timeout(timeout_s):
        while not await probe():  # noqa: ASYNC110 - the service offers nothing to await
            await asyncio.sleep(0.1)
