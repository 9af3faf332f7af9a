"""The monitor's API on a real database; the caller's organisation comes from a header that
replaces the token lookup (the transport seam: `current_principal`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request

from heatlink.cluster.model import Cluster
from heatlink.testing import FakeClock
from services.access.deps import current_principal
from services.access.principal import DEFAULT_SCOPES, Principal, Role
from services.monitor.router import get_monitor, router
from services.monitor.runtime import MonitorRuntime, start_monitor
from services.monitor.testing import RecordingFindingSink
from tests.monitor.dbsupport import T0, ingest, tank_readings
from tests.monitor.plant import glomfjord


def principal_from_header(request: Request) -> Principal:
    role = Role(request.headers.get("x-test-role", "recipient"))
    return Principal(token_id=1, name="test", org=request.headers["x-test-org"], role=role,
                     scopes=DEFAULT_SCOPES[role])


@pytest.fixture
async def api(pool: asyncpg.Pool, cluster: Cluster
              ) -> AsyncIterator[tuple[httpx.AsyncClient, MonitorRuntime, FakeClock]]:
    clock = FakeClock(T0)
    runtime = await start_monitor(pool, cluster, clock, RecordingFindingSink())
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_monitor] = lambda: runtime
    app.dependency_overrides[current_principal] = principal_from_header
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, runtime, clock
    await runtime.stop()


def as_org(org: str, role: str = "recipient") -> dict[str, str]:
    return {"x-test-org": org, "x-test-role": role}


async def test_list_and_change_rules(
        api: tuple[httpx.AsyncClient, MonitorRuntime, FakeClock]) -> None:
    client, _, _ = api
    rules = (await client.get("/v1/rules", headers=as_org("fjordsmolt"))).json()
    band = next(r for r in rules if r["id"] == "tank1-band")
    assert (band["version"], band["spec"]["high"]) == (1, 16.0)
    mine = (await client.get("/v1/rules", params={"owner": "fjordsmolt"},
                             headers=as_org("fjordsmolt"))).json()
    assert {r["owner"] for r in mine} == {"fjordsmolt"}

    body = {"changes": {"high": 15.0}, "reason": "vet"}
    farm = as_org("fjordsmolt", "operator")  # the safety scope: read tokens change nothing
    assert (await client.patch("/v1/rules/tank1-band", json=body,
                               headers=as_org("fjordsmolt"))).status_code == 403
    denied = await client.patch("/v1/rules/tank1-band", json=body,
                                headers=as_org("glomfjord-smelter", "operator"))
    assert denied.status_code == 404  # the smelter cannot see the farm's tank rules
    fixed = await client.patch("/v1/rules/tank1-band", json={"changes": {"series": "a/b"},
                                                             "reason": "x"}, headers=farm)
    assert fixed.status_code == 422
    invalid = await client.patch("/v1/rules/tank1-band", json={"changes": {"deadband": -1},
                                                               "reason": "x"}, headers=farm)
    assert invalid.status_code == 422
    missing = await client.patch("/v1/rules/nope", json=body, headers=farm)
    assert missing.status_code == 404
    ok = await client.patch("/v1/rules/tank1-band", json=body, headers=farm)
    assert ok.status_code == 200
    assert (ok.json()["version"], ok.json()["spec"]["high"]) == (2, 15.0)
    versions = (await client.get("/v1/rules/tank1-band/versions",
                                 headers=as_org("fjordsmolt"))).json()
    assert [(v["version"], v["changed_by"], v["actor"], v["reason"]) for v in versions] == [
        (1, "cluster-file", None, None), (2, "fjordsmolt", "fjordsmolt:test (#1)", "vet")]
    assert versions[1]["previous"]["high"] == 16.0


async def test_findings_with_filters_and_visibility(
        pool: asyncpg.Pool, api: tuple[httpx.AsyncClient, MonitorRuntime, FakeClock]) -> None:
    client, runtime, clock = api
    await ingest(pool, runtime, clock, tank_readings(T0, 10, 12.0))
    await ingest(pool, runtime, clock, tank_readings(T0 + timedelta(minutes=10), 10, 17.0))
    farm = (await client.get("/v1/findings", params={"rule_id": "tank1-band"},
                             headers=as_org("fjordsmolt"))).json()
    assert [(f["state"], f["rule_version"]) for f in farm] == [("high", 1)]
    assert farm[0]["ts"].startswith("2026-01-15T06:1")
    # The smelter sees the tank only where the exchange shares it (it does not share temp).
    smelter = (await client.get("/v1/findings", params={"rule_id": "tank1-band"},
                                headers=as_org("glomfjord-smelter", "operator"))).json()
    assert smelter == []
    none = (await client.get("/v1/findings", params={"state": "low"},
                             headers=as_org("fjordsmolt"))).json()
    assert none == []
    later = (await client.get("/v1/findings", headers=as_org("fjordsmolt"),
                              params={"since": "2026-01-15T07:00:00Z"})).json()
    assert later == []
    naive = await client.get("/v1/findings", headers=as_org("fjordsmolt"),
                             params={"since": "2026-01-15T07:00:00"})
    assert naive.status_code == 422


async def test_energy_from_the_stored_heat_power(
        pool: asyncpg.Pool, api: tuple[httpx.AsyncClient, MonitorRuntime, FakeClock]) -> None:
    client, runtime, clock = api
    run = glomfjord(1800, noise_k=0.0, start_s=T0.timestamp())
    keys, t, v = run.readings()
    await ingest(pool, runtime, clock, (keys, [datetime.fromtimestamp(x, UTC) for x in t],
                                        [float(x) for x in v], ["good"] * len(keys)))
    window = {"since": "2026-01-15T06:00:00Z", "until": "2026-01-15T06:30:00Z"}
    primary = "glomfjord/smelter/hx1/primary/power"
    answer = await client.get("/v1/energy", params={"series": primary, **window},
                              headers=as_org("glomfjord-smelter", "operator"))
    assert answer.status_code == 200
    body = answer.json()
    power_kw = runtime.engine.table.last_v[runtime.engine.table.index[primary]]
    assert body["energy_kwh"] == pytest.approx(power_kw * (1800 - 10) / 3600, rel=0.01)
    assert body["readings"] == 180
    # The farm sees the secondary side (shared by the exchange), not the primary.
    secondary = await client.get("/v1/energy", headers=as_org("fjordsmolt"), params={
        "series": "glomfjord/smelter/hx1/secondary/power", **window})
    assert secondary.status_code == 200
    assert secondary.json()["energy_kwh"] == pytest.approx(body["energy_kwh"], rel=0.03)
    hidden = await client.get("/v1/energy", params={"series": primary, **window},
                              headers=as_org("fjordsmolt"))
    assert hidden.status_code == 404
