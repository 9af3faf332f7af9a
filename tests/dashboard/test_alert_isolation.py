"""Alerts through every door: an alert reaches its own company, by list and by stream, and
no other.

Runs before the browser tests (file order): their alerts and maintenance windows would
otherwise suppress this one by the alert part's inhibition rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from heatlink.findings import Finding
from services.runtimes import runtimes_of
from tests.dashboard.conftest import ingest
from tests.dashboard.sse import Message, messages
from tests.support.service import AppHandle

SHARED = "glomfjord/smelter/hx1/secondary/flow"  # the smelter's, shared with the farm


async def test_an_alert_reaches_its_company_and_no_other_by_list_or_stream(
        live_service: AppHandle, org_tokens: dict[str, str], glomfjord_gateway: str) -> None:
    # Mo's district heat loses supply: Mo Fjernvarme is told; Fjordsmolt, elsewhere, is not.
    now = datetime.now(UTC)
    async with live_service.client(org_tokens["mo-fjernvarme"]) as district, \
            live_service.client(org_tokens["fjordsmolt"]) as farm, \
            live_service.client(glomfjord_gateway) as gw, asyncio.timeout(30), \
            district.stream("GET", "/v1/stream") as district_response, \
            farm.stream("GET", "/v1/stream") as farm_response:
        district_stream, farm_stream = messages(district_response), messages(farm_response)
        await anext(district_stream)
        await anext(farm_stream)
        await runtimes_of(live_service.app).alerts.service.findings([Finding(
            rule_id="isolation-check", rule_version=1, kind="threshold",
            series="mo/smelter/hx2/secondary/supply_temp", owner="mo-ferrosilicon",
            severity="alarm", state="low", previous_state="ok", ts=now, since_ts=now,
            detected_at=now, late=False, value=70.0, slope_per_h=None,
            predicted_time_to_limit_s=None)])
        alert_event = await anext(m async for m in district_stream if m.event == "alert")
        # The alert event is in the hub now; a later value marks the farm's reading.
        await ingest(gw, [(SHARED, 321.5)])
        seen = [m.event async for m in _until_value(farm_stream, 321.5)]
        assert "alert" not in seen
        listed = (await district.get("/v1/alerts")).json()["alerts"]
        theirs = (await farm.get("/v1/alerts")).json()["alerts"]
        alert_id = next(a["id"] for a in listed if a["rule_id"] == "isolation-check")
        assert alert_id not in [a["id"] for a in theirs]
        assert (await farm.get(f"/v1/alerts/{alert_id}")).status_code == 404
    assert alert_event.data


async def _until_value(stream: AsyncIterator[Message], value: float
                       ) -> AsyncIterator[Message]:
    async for message in stream:
        yield message
        if message.event == "values" and any(v["value"] == value
                                             for v in message.data["values"]):
            return
