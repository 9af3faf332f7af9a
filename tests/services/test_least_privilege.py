"""Least privilege (issue 12): who may change a limit or silence an alarm, within what
bounds, who sees which rules, what a gateway's token reads, and who may write which series
under which batch ids. Each case was tried against the service as an attacker would."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.access.principal import Role, Scope
from tests.services.conftest import T0
from tests.support.service import AppHandle, make_token

TANK = "glomfjord/smoltfarm/tank1/temp"
PRIVATE = "glomfjord/smelter/hx1/primary/supply_temp"
MO_FLOW = "mo/smelter/hx2/primary/flow"


@pytest.fixture(scope="module")
async def farm_operator(service: AppHandle, database_url: str) -> str:
    return await make_token(database_url, "fjordsmolt", Role.OPERATOR, name="night shift")


@pytest.fixture(scope="module")
async def glomfjord_gateway(service: AppHandle, database_url: str) -> str:
    return await make_token(database_url, "glomfjord-smelter", Role.GATEWAY,
                            gateway="glomfjord-gw1", name="gw1")


async def test_a_read_only_token_changes_no_rule(service: AppHandle,
                                                 tokens: dict[str, str]) -> None:
    async with service.client(tokens["fjordsmolt"]) as farm:  # a recipient's reading token
        band = await farm.patch("/v1/rules/tank1-band", json={
            "changes": {"low": 20.0, "high": 5.0}, "reason": "x"})
        ramp = await farm.patch("/v1/rules/tank1-ramp-alarm", json={
            "changes": {"max_rise_per_h": 1000.0}, "reason": "x"})
        rule = (await farm.get("/v1/rules/tank1-ramp-alarm")).json()
    assert band.status_code == ramp.status_code == 403
    assert "'safety' scope" in ramp.json()["detail"]
    assert rule["spec"]["max_rise_per_h"] == 2.0


@pytest.mark.parametrize(("rule", "changes", "says"), [
    ("tank1-band", {"low": 20.0, "high": 5.0}, "low 20 must be below high 5"),
    ("tank1-band", {"high": 99.0}, "outside the physical range [-2, 35]"),
    ("tank1-band", {"low": 1.0}, "looser than the hard limit [4, 18]"),
    ("tank1-band", {"high": None}, "high may not be removed"),
    ("tank1-band", {"on_delay_s": 86400}, "on_delay_s 86400 is looser"),
    ("tank1-ramp-alarm", {"max_rise_per_h": 1000.0}, "looser than the hard limit 2 per hour"),
    ("tank1-ramp-alarm", {"max_fall_per_h": None}, "max_fall_per_h may not be removed"),
    ("tank1-stale", {"max_age_s": 86400}, "looser than the hard limit 600 s"),
    ("tank1-ramp-alarm", {"min_samples": 10**9}, "min_samples 1000000000 exceeds 10000"),
    ("tank1-ramp-alarm", {"windows_s": [300, 10**7]}, "must lie in (0, 86400] s"),
    # Python's JSON parser reads the extension Infinity.
    ("tank1-band", {"deadband": float("inf")}, None),
])
async def test_a_rule_change_stays_inside_range_and_hard_limits(
        service: AppHandle, farm_operator: str, rule: str, changes: dict[str, object],
        says: str | None) -> None:
    async with service.client(farm_operator) as farm:
        before = (await farm.get(f"/v1/rules/{rule}")).json()
        refused = await farm.patch(
            f"/v1/rules/{rule}", content=json.dumps({"changes": changes, "reason": "trying"}),
            headers={"Content-Type": "application/json"})
        after = (await farm.get(f"/v1/rules/{rule}")).json()
    assert refused.status_code == 422, refused.text
    assert says is None or says in refused.json()["detail"]
    assert after == before


async def test_a_rule_change_is_audited_with_who_and_why(
        service: AppHandle, farm_operator: str, tokens: dict[str, str]) -> None:
    async with service.client(farm_operator) as farm:
        no_reason = await farm.patch("/v1/rules/tank1-ramp-warn",
                                     json={"changes": {"max_rise_per_h": 0.8}})
        changed = await farm.patch("/v1/rules/tank1-ramp-warn", json={
            "changes": {"max_rise_per_h": 0.8}, "reason": "vet: smoltification week"})
        versions = (await farm.get("/v1/rules/tank1-ramp-warn/versions")).json()
    assert no_reason.status_code == 422
    assert changed.status_code == 200, changed.text
    last = versions[-1]
    assert last["changed_by"] == "fjordsmolt"
    assert last["actor"].startswith("fjordsmolt:night shift (#")
    assert last["reason"] == "vet: smoltification week"
    assert (last["previous"]["max_rise_per_h"], last["spec"]["max_rise_per_h"]) == (1.0, 0.8)
    # The supplier cannot change the farm's rule even with the safety scope.
    smelter = tokens["glomfjord-smelter"]  # an operator: read, control, safety
    async with service.client(smelter) as supplier:
        assert (await supplier.patch("/v1/rules/hx1-supply-band", json={
            "changes": {"low": 15.0}, "reason": "x"})).status_code == 403


async def test_a_company_sees_the_rules_of_its_assets_and_exchanges_only(
        service: AppHandle, tokens: dict[str, str]) -> None:
    async def rule_ids(org: str) -> set[str]:
        async with service.client(tokens[org]) as client:
            return {r["id"] for r in (await client.get("/v1/rules")).json()}

    greenhouse, farm, smelter = (await rule_ids("mo-greenhouse"), await rule_ids("fjordsmolt"),
                                 await rule_ids("glomfjord-smelter"))
    assert greenhouse == {"greenhouse-band"}
    # The farm sees its own rules; the smelter's rules on its private series stay hidden.
    assert {"tank1-band", "tank1-ramp-alarm", "hx1-supply-band"} <= farm
    assert not {"hx1-health", "hx1-disruption", "hx1-stale"} & farm
    # The smelter sees the farm's limit on the supply it delivers (a shared series), not
    # the limits of the farm's tank.
    assert "hx1-supply-band" in smelter
    assert not {"tank1-band", "tank1-ramp-alarm"} & smelter
    assert await rule_ids("cluster-facilitator") >= farm | smelter | greenhouse
    async with service.client(tokens["fjordsmolt"]) as client:
        hidden = await client.get("/v1/rules/hx1-health")
        versions = await client.get("/v1/rules/hx1-health/versions")
        missing = await client.get("/v1/rules/no-such-rule")
    assert hidden.status_code == versions.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("hx1-health", "X") == \
        missing.json()["detail"].replace("no-such-rule", "X")


async def test_shelving_and_out_of_service_need_the_safety_scope(
        service: AppHandle, tokens: dict[str, str]) -> None:
    # The alert need not exist: the scope is refused before anything is looked up.
    async with service.client(tokens["fjordsmolt"]) as reader:
        week = await reader.post("/v1/alerts/1/shelve", json={"duration_s": 7 * 86400})
        oos = await reader.post("/v1/alerts/1/out-of-service", json={})
        window = await reader.post("/v1/maintenance", json={
            "exchange": "glomfjord-smolt", "starts_at": T0.isoformat(),
            "ends_at": (T0 + timedelta(hours=1)).isoformat()})
    assert week.status_code == oos.status_code == window.status_code == 403
    assert "'safety' scope" in week.json()["detail"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/control/points"), ("GET", "/v1/control/ramps"),
    ("GET", "/v1/control/ramps/1"), ("GET", "/v1/control/audit"),
    ("GET", "/v1/control/protective-requests"),
    ("POST", "/v1/control/protective-requests"),
    ("POST", "/v1/control/ramps"), ("POST", "/v1/control/ramps/1/cancel"),
    ("GET", "/v1/rules"), ("GET", "/v1/alerts"), ("GET", "/v1/access-log"),
])
async def test_a_gateway_token_reads_no_control_endpoint(
        service: AppHandle, glomfjord_gateway: str, method: str, path: str) -> None:
    body = {"exchange": "glomfjord-smolt", "action": "x"} if "protective" in path else \
        {"point": "glomfjord/smoltfarm/tank1/temp_setpoint", "target": 10.0}
    async with service.client(glomfjord_gateway) as gateway:
        answer = await gateway.request(method, path, json=body if method == "POST" else None)
    assert answer.status_code == 403, answer.text
    assert "'read' scope" in answer.json()["detail"]


def _batch(gateway: str, series: str, value: float, batch_id: str | None = None,
           seconds: float = 0) -> dict[str, object]:
    return {"gateway": gateway, "batch_id": batch_id or uuid.uuid4().hex, "readings": [
        {"series": series, "ts": (T0 + timedelta(seconds=seconds)).isoformat(),
         "value": value, "quality": "good"}]}


async def test_an_admin_token_writes_only_its_own_organisations_series(
        service: AppHandle, database_url: str) -> None:
    mo_admin = await make_token(database_url, "mo-ferrosilicon", Role.ADMIN,
                                scopes=[*Scope], name="mo admin")
    async with service.client(mo_admin) as admin:
        # In the name of its own gateway, into the smelter's private series: refused.
        answer = (await admin.post("/v1/ingest", json=_batch("mo-gw1", PRIVATE, 99.0,
                                                             seconds=-7))).json()
        # In the name of the smelter's gateway: refused as a whole.
        foreign = await admin.post("/v1/ingest", json=_batch("glomfjord-gw1", PRIVATE, 99.0))
    assert answer["accepted"] == 0
    assert [r["reason"] for r in answer["rejected"]] == ["not_permitted"]
    assert foreign.status_code == 403
    assert "belongs to glomfjord-smelter" in foreign.json()["detail"]
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id"
            " WHERE s.key = $1 AND r.value = 99.0", PRIVATE)
    finally:
        await conn.close()
    assert stored == 0


async def test_batch_ids_belong_to_the_authenticated_gateway(
        service: AppHandle, database_url: str, glomfjord_gateway: str) -> None:
    batch_id = f"gw1-{uuid.uuid4().hex[:8]}"
    # Another company's admin cannot send under the gateway's name at all...
    mo_admin = await make_token(database_url, "mo-ferrosilicon", Role.ADMIN,
                                scopes=[*Scope], name="mo admin")
    async with service.client(mo_admin) as client:
        assert (await client.post("/v1/ingest", json=_batch(
            "glomfjord-gw1", MO_FLOW, 100.0, batch_id, 10))).status_code == 403
    # The smelter's own integrator (no gateway) sends first under the gateway's next id...
    integrator = await make_token(database_url, "glomfjord-smelter", Role.INTEGRATOR,
                                  scopes=[Scope.INGEST], name="historian import")
    async with service.client(integrator) as client:
        first = await client.post("/v1/ingest", json=_batch(
            "glomfjord-gw1", "glomfjord/smelter/furnace/heat_output", 100.0, batch_id, 11))
    assert first.status_code == 200, first.text
    # ...and the gateway's real batch under that id is still stored, not taken as resent.
    async with service.client(glomfjord_gateway) as gateway:
        real = (await gateway.post("/v1/ingest", json=_batch(
            "glomfjord-gw1", TANK, 12.5, batch_id, 12))).json()
        again = (await gateway.post("/v1/ingest", json=_batch(
            "glomfjord-gw1", TANK, 12.5, batch_id, 12))).json()
    assert (real["replayed"], real["accepted"]) == (False, 1)
    assert (again["replayed"], again["accepted"]) == (True, 1)
