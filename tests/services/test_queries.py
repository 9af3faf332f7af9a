"""Reading queries: raw and bucketed, bounded, filtered by what the caller may see."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from tests.services.conftest import T0
from tests.support.service import AppHandle

SHARED = "glomfjord/smelter/hx1/secondary/supply_temp"   # smelter's, shared with the farm
PRIVATE = "glomfjord/smelter/hx1/primary/supply_temp"    # smelter's, not shared
START = T0 - timedelta(hours=2)


@pytest.fixture(scope="module")
async def history(service: AppHandle, gw_token: str) -> None:
    """Two hours of one-minute readings on the shared supply temperature."""
    readings = [{"series": SHARED, "ts": (START + timedelta(minutes=i)).isoformat(),
                 "value": 18.0 + (i % 60) / 10} for i in range(120)]
    async with service.client(gw_token) as client:
        response = await client.post("/v1/ingest", json={
            "gateway": "glomfjord-gw1", "batch_id": uuid.uuid4().hex, "readings": readings})
    assert response.json()["accepted"] == 120


async def test_each_company_lists_its_own_series_and_what_is_shared_with_it(
        service: AppHandle, tokens: dict[str, str]) -> None:
    async with service.client(tokens["fjordsmolt"]) as client:
        farm = {s["key"] for s in (await client.get("/v1/series")).json()}
    async with service.client(tokens["cluster-facilitator"]) as client:
        everything = {s["key"] for s in (await client.get("/v1/series")).json()}
    assert "glomfjord/smoltfarm/tank1/temp" in farm       # its own
    assert SHARED in farm                                 # shared by the exchange
    assert PRIVATE not in farm                            # the smelter's own
    assert not any(k.startswith("mo/") for k in farm)      # another cluster site entirely
    assert {SHARED, PRIVATE, "mo/greenhouse/house1/air_temp"} <= everything


@pytest.mark.usefixtures("history")
async def test_raw_readings_in_a_range(service: AppHandle, tokens: dict[str, str]) -> None:
    async with service.client(tokens["fjordsmolt"]) as client:
        response = await client.get(f"/v1/series/{SHARED}/readings", params={
            "start": START.isoformat(), "end": (START + timedelta(minutes=10)).isoformat()})
    body = response.json()
    assert response.status_code == 200, body
    assert body["unit"] == "degC"
    assert [p["value"] for p in body["points"]] == pytest.approx(
        [18.0 + i / 10 for i in range(10)])
    assert body["points"][0]["quality"] == "good"


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(("agg", "first_hour"), [
    ("avg", 18.0 + 2.95), ("min", 18.0), ("max", 23.9), ("last", 23.9)])
async def test_bucketed_readings(service: AppHandle, tokens: dict[str, str], agg: str,
                                 first_hour: float) -> None:
    async with service.client(tokens["glomfjord-smelter"]) as client:
        response = await client.get(f"/v1/series/{SHARED}/readings", params={
            "start": START.isoformat(), "end": T0.isoformat(), "step": 3600, "agg": agg})
    points = response.json()["points"]
    assert len(points) == 2
    assert points[0]["value"] == pytest.approx(first_hour)


async def test_a_query_past_the_bound_says_how_to_narrow_it(
        service: AppHandle, tokens: dict[str, str]) -> None:
    async with service.client(tokens["glomfjord-smelter"]) as client:
        response = await client.get(f"/v1/series/{SHARED}/readings", params={
            "start": (T0 - timedelta(days=30)).isoformat(), "end": T0.isoformat(), "step": 1})
    assert response.status_code == 422
    assert "larger step" in response.json()["detail"]


async def test_an_unshared_series_is_404_as_if_it_did_not_exist(
        service: AppHandle, tokens: dict[str, str]) -> None:
    async with service.client(tokens["fjordsmolt"]) as client:
        hidden = await client.get(f"/v1/series/{PRIVATE}/readings")
        missing = await client.get("/v1/series/glomfjord/nothing/here/readings")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(PRIVATE, "X") == \
        missing.json()["detail"].replace("glomfjord/nothing/here", "X")


@pytest.mark.usefixtures("history")
async def test_latest_gives_value_and_age(service: AppHandle, tokens: dict[str, str]) -> None:
    async with service.client(tokens["fjordsmolt"]) as client:
        latest = {r["series"]: r for r in (await client.get("/v1/latest")).json()}
    assert PRIVATE not in latest
    assert latest[SHARED]["age_s"] >= 60
    assert latest[SHARED]["value"] == pytest.approx(18.0 + 5.9)


@pytest.mark.usefixtures("history")
async def test_reads_across_companies_are_logged_for_the_owner(
        service: AppHandle, tokens: dict[str, str], database_url: str) -> None:
    async with service.client(tokens["fjordsmolt"]) as client:
        await client.get(f"/v1/series/{SHARED}/readings")
    conn = await asyncpg.connect(database_url)
    try:
        owners = await conn.fetch(
            "SELECT owner_org, door FROM access_log WHERE reader_org = 'fjordsmolt'"
            " AND series = $1", SHARED)
    finally:
        await conn.close()
    assert {(r["owner_org"], r["door"]) for r in owners} == {("glomfjord-smelter", "rest")}
    # The owner sees who read its data; the reader sees nothing of the owner's log.
    async with service.client(tokens["glomfjord-smelter"]) as client:
        smelter_log = (await client.get("/v1/access-log")).json()
    async with service.client(tokens["fjordsmolt"]) as client:
        farm_log = (await client.get("/v1/access-log")).json()
    assert {(e["reader_org"], e["series"], e["door"]) for e in smelter_log} >= {
        ("fjordsmolt", SHARED, "rest")}
    assert all(e["series"].startswith("glomfjord/smoltfarm/") for e in farm_log)


async def test_health_and_readiness(service: AppHandle) -> None:
    async with service.client() as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready"
