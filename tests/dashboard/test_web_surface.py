"""The web surface (issue 12): headers that confine the dashboard and the API in a browser,
and refused reads of another company's series in that company's access log."""

from __future__ import annotations

import pytest

from services.access.principal import Role
from tests.support.service import AppHandle, make_token

PRIVATE = "glomfjord/smelter/hx1/primary/supply_temp"  # the smelter's own, shared with nobody


@pytest.fixture(scope="module")
async def mo_gateway(live_service: AppHandle, database_url: str) -> str:
    return await make_token(database_url, "mo-ferrosilicon", Role.GATEWAY, gateway="mo-gw1")


@pytest.mark.parametrize("path", ["/", "/static/dashboard.js", "/v1/series", "/healthz",
                                  "/v1/alerts/1/link?action=ack&org=x&expires=1&sig=x"])
async def test_every_response_carries_the_security_headers(
        live_service: AppHandle, org_tokens: dict[str, str], path: str) -> None:
    async with live_service.client(org_tokens["fjordsmolt"]) as client:
        response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(("door", "path"), [
    ("rest", f"/v1/series/{PRIVATE}/readings"),
    ("export", f"/v1/series/{PRIVATE}/export.csv"),
    ("stream", f"/v1/stream?series={PRIVATE}"),
])
async def test_a_refused_read_is_in_the_owners_access_log_with_its_reason(
        live_service: AppHandle, org_tokens: dict[str, str], door: str, path: str) -> None:
    async with live_service.client(org_tokens["mo-greenhouse"]) as curious:
        refused = await curious.get(path)
    assert refused.status_code == 404
    async with live_service.client(org_tokens["glomfjord-smelter"]) as owner:
        log = (await owner.get("/v1/access-log")).json()
    assert any((e["reader_org"], e["series"], e["door"], e["outcome"]) ==
               ("mo-greenhouse", PRIVATE, door, "denied")
               and e["reason"] == "not shared with the reader" for e in log), log
    async with live_service.client(org_tokens["mo-greenhouse"]) as curious:
        own_log = (await curious.get("/v1/access-log")).json()
    assert all(e["series"].startswith("mo/greenhouse/") for e in own_log)


async def test_a_refused_write_into_another_companys_series_is_logged_for_it(
        live_service: AppHandle, org_tokens: dict[str, str], mo_gateway: str) -> None:
    async with live_service.client(mo_gateway) as gateway:
        answer = (await gateway.post("/v1/ingest", json={
            "gateway": "mo-gw1", "batch_id": "into-glomfjord", "readings": [
                {"series": PRIVATE, "ts": "2026-01-15T06:00:00+00:00", "value": 1.0}]})).json()
    assert [r["reason"] for r in answer["rejected"]] == ["not_permitted"]
    async with live_service.client(org_tokens["glomfjord-smelter"]) as owner:
        log = (await owner.get("/v1/access-log")).json()
    assert any((e["reader_org"], e["series"], e["door"], e["outcome"]) ==
               ("mo-ferrosilicon", PRIVATE, "ingest", "denied") for e in log), log


@pytest.mark.parametrize(("header", "lang"), [
    ("nb-NO", "nb"), ("NB", "nb"), ("NB-NO,en;q=0.5", "nb"), ("no", "nb"), ("EN-gb", "en"),
    ("da", "en"), ("*", "en"), ("x" * 300, "en"), (";q=nb,,", "en")])
async def test_the_page_speaks_the_language_asked_for_in_any_spelling(
        live_service: AppHandle, header: str, lang: str) -> None:
    async with live_service.client() as client:
        response = await client.get("/", headers={"Accept-Language": header})
    assert response.status_code == 200
    assert f'<html lang="{lang}"' in response.text
