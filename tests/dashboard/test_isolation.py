"""A company reads its own series and what its exchanges share, through every door, and
nothing else; reads across companies land in the owner's access log."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.dashboard.conftest import ingest
from tests.support.service import AppHandle

SHARED = "glomfjord/smelter/hx1/secondary/flow"          # smelter's, shared with the farm
PRIVATE = "glomfjord/smelter/hx1/primary/flow"           # smelter's own
OTHER_SITE = "mo/smelter/hx2/secondary/flow"             # another exchange entirely
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)

# Every door that names a series: (method, path template, params)
DOORS = [
    ("rest", "/v1/series/{key}/readings", {}),
    ("export", "/v1/series/{key}/export.csv", {}),
    ("export-many", "/v1/export.csv", {"series": "{key}"}),
    ("stream", "/v1/stream", {"series": "{key}"}),
]


@pytest.fixture(scope="module")
async def readings(live_service: AppHandle, glomfjord_gateway: str) -> None:
    async with live_service.client(glomfjord_gateway) as gw:
        for minute in range(3):
            await ingest(gw, [(SHARED, 300.0 + minute), (PRIVATE, 500.0 + minute)],
                         at=AT + timedelta(minutes=minute))


def _door(path: str, params: dict[str, str], key: str) -> tuple[str, dict[str, str]]:
    return path.format(key=key), {k: v.format(key=key) for k, v in params.items()}


@pytest.mark.usefixtures("readings")
@pytest.mark.parametrize(("door", "path", "params"), DOORS, ids=[d[0] for d in DOORS])
@pytest.mark.parametrize(("org", "key"), [
    ("fjordsmolt", PRIVATE), ("fjordsmolt", OTHER_SITE), ("mo-greenhouse", SHARED),
    ("mo-fjernvarme", PRIVATE)])
async def test_an_unshared_series_is_404_by_every_door(
        live_service: AppHandle, org_tokens: dict[str, str], door: str, path: str,
        params: dict[str, str], org: str, key: str) -> None:
    url, query = _door(path, params, key)
    async with live_service.client(org_tokens[org]) as client, asyncio.timeout(10):
        response = await client.get(url, params=query)
    assert response.status_code == 404, (door, response.text)
    assert "GET /v1/series" in response.json()["detail"]


@pytest.mark.usefixtures("readings")
@pytest.mark.parametrize(("door", "path", "params"), DOORS[:3], ids=[d[0] for d in DOORS[:3]])
async def test_a_shared_series_is_readable_by_the_recipient(
        live_service: AppHandle, org_tokens: dict[str, str], door: str, path: str,
        params: dict[str, str]) -> None:
    url, query = _door(path, params, SHARED)
    query |= {"start": AT.isoformat(), "end": (AT + timedelta(minutes=3)).isoformat()}
    async with live_service.client(org_tokens["fjordsmolt"]) as client:
        response = await client.get(url, params=query)
    assert response.status_code == 200, (door, response.text)
    text = response.text
    assert "300.0" in text
    assert "302.0" in text


@pytest.mark.usefixtures("readings")
async def test_the_export_is_csv_a_spreadsheet_reads(
        live_service: AppHandle, org_tokens: dict[str, str]) -> None:
    async with live_service.client(org_tokens["glomfjord-smelter"]) as client:
        response = await client.get("/v1/export.csv", params={
            "series": [PRIVATE, SHARED], "start": AT.isoformat(),
            "end": (AT + timedelta(minutes=2)).isoformat()})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["series"], float(r["value"])) for r in rows] == [
        (PRIVATE, 500.0), (SHARED, 300.0), (PRIVATE, 501.0), (SHARED, 301.0)]
    assert datetime.fromisoformat(rows[0]["ts"]) == AT
    assert rows[0]["quality"] == "good"


@pytest.mark.usefixtures("readings")
async def test_the_dashboard_shows_only_what_is_visible(
        live_service: AppHandle, org_tokens: dict[str, str]) -> None:
    async with live_service.client(org_tokens["fjordsmolt"]) as client:
        snap = (await client.get("/v1/dashboard")).json()
    keys = {s["key"] for s in snap["series"]} | set(snap["latest"])
    assert SHARED in keys
    assert PRIVATE not in keys
    assert OTHER_SITE not in keys
    assert [e["id"] for e in snap["exchanges"]] == ["glomfjord-smolt"]
    smolt = snap["exchanges"][0]
    assert smolt["primary"] == {"supply_temp": None, "return_temp": None, "flow": None,
                                "power": None}
    assert smolt["secondary"]["flow"] == SHARED
    assert not any(n["id"].startswith("mo/") for n in snap["nodes"])


@pytest.mark.usefixtures("readings")
async def test_reads_across_companies_are_logged_for_the_owner_per_door(
        live_service: AppHandle, org_tokens: dict[str, str], database_url: str) -> None:
    window = {"start": AT.isoformat(), "end": (AT + timedelta(minutes=3)).isoformat()}
    async with live_service.client(org_tokens["fjordsmolt"]) as client, asyncio.timeout(10):
        await client.get(f"/v1/series/{SHARED}/export.csv", params=window)
        await client.get("/v1/dashboard")
        async with client.stream("GET", "/v1/stream", params={"series": SHARED}) as response:
            await anext(response.aiter_lines())
    async with live_service.client(org_tokens["glomfjord-smelter"]) as client:
        await client.get(f"/v1/series/{PRIVATE}/export.csv", params=window)  # its own
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT DISTINCT reader_org, owner_org, series, door"
                                " FROM access_log WHERE series = ANY($1::text[])",
                                [SHARED, PRIVATE])
    finally:
        await conn.close()
    logged = {(r["reader_org"], r["owner_org"], r["series"], r["door"]) for r in rows}
    for door in ("export", "stream", "dashboard"):
        assert ("fjordsmolt", "glomfjord-smelter", SHARED, door) in logged
    assert not any(r[0] == "glomfjord-smelter" for r in logged)  # own reads are not logged
