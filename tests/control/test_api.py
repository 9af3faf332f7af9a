"""The control API without plants: the cluster file's writable points, the migrated schema,
protective-action requests and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from heatlink.cluster.loader import EXAMPLE_CLUSTER, ClusterFileError, parse_cluster
from services.access.principal import Role
from services.runtimes import runtimes_of
from services.settings import Settings
from tests.control.support import GATEWAY, POINT, TEMP, ControlKeys, control_broker
from tests.support.service import make_token, running_app


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    return data


def test_bad_references_of_a_writable_point_are_named_by_their_path() -> None:
    data = example()
    point = data["writable_points"][0]
    point.update(owner="nobody", gateway="gw-x", ramp_rule="tank1-band",
                 depends_on=["no/such/series"], interlock_rules=["no-rule"])
    with pytest.raises(ClusterFileError) as error:
        parse_cluster(data)
    problems = "\n".join(error.value.problems)
    for expected in ("writable_points[0].owner: unknown organisation 'nobody'",
                     "writable_points[0].gateway: unknown gateway 'gw-x'",
                     "writable_points[0].ramp_rule: 'tank1-band' is a band rule",
                     "writable_points[0].depends_on[0]: unknown series",
                     "writable_points[0].interlock_rules[0]: unknown rule 'no-rule'"):
        assert expected in problems


def test_a_writable_point_needs_a_limit() -> None:
    data = example()
    del data["writable_points"][0]["ramp_rule"]
    with pytest.raises(ClusterFileError, match="give ramp_rule or max_rate_per_h"):
        parse_cluster(data)


async def test_protective_requests_and_refusals(fresh_database_url: str,
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("HEATLINK_ALERTS_RUN_WORKER", "false")
    monkeypatch.delenv("HEATLINK_CONTROL_MQTT_URL", raising=False)
    farm = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    farm_op = await make_token(fresh_database_url, "fjordsmolt", Role.OPERATOR)
    smelter = await make_token(fresh_database_url, "glomfjord-smelter", Role.OPERATOR)
    smelter_reader = await make_token(fresh_database_url, "glomfjord-smelter", Role.RECIPIENT)
    greenhouse = await make_token(fresh_database_url, "mo-greenhouse", Role.OPERATOR)
    async with running_app(Settings(database_url=fresh_database_url,
                                    retention_days=30)) as app:
        pool = runtimes_of(app.app).pool
        columns = {r["column_name"] for r in await pool.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
            "control_commands")}
        assert {"id", "ramp_id", "expires_at", "status", "gateway_status", "readback"} <= columns

        async with app.client(farm) as c:
            asked = await c.post("/v1/control/protective-requests", json={
                "exchange": "glomfjord-smolt", "action": "ramp down at 0.5 K/h during the "
                "planned stop", "reason": "smolt in smoltification"})
            assert asked.status_code == 201, asked.text
            request_id = asked.json()["id"]
            # The recipient cannot answer its own request.
            own = await c.post(f"/v1/control/protective-requests/{request_id}/accept", json={})
            assert own.status_code == 403
        async with app.client(smelter_reader) as c:
            no_scope = await c.post(f"/v1/control/protective-requests/{request_id}/accept",
                                    json={})
            assert no_scope.status_code == 403
        async with app.client(smelter) as c:
            refused = await c.post("/v1/control/protective-requests", json={
                "exchange": "glomfjord-smolt", "action": "x"})
            assert refused.status_code == 403  # the supplier does not ask itself
            declined = await c.post(f"/v1/control/protective-requests/{request_id}/decline",
                                    json={"note": "furnace maintenance needs the full stop"})
            assert declined.status_code == 200, declined.text
            assert declined.json()["status"] == "declined"
            again = await c.post(f"/v1/control/protective-requests/{request_id}/accept",
                                 json={})
            assert again.status_code == 409
            # Not the owner of the farm's setpoint: 403, and audited.
            ramp = await c.post("/v1/control/ramps", json={
                "point": "glomfjord/smoltfarm/tank1/temp_setpoint", "target": 10})
            assert ramp.status_code == 403
            assert "belongs to fjordsmolt" in ramp.json()["detail"]
        async with app.client(farm_op) as c:
            answer = (await c.get("/v1/control/protective-requests")).json()
            assert answer[0]["status"] == "declined"
            assert answer[0]["answer_note"].startswith("furnace")
            no_broker = await c.post("/v1/control/ramps", json={
                "point": "glomfjord/smoltfarm/tank1/temp_setpoint", "target": 25})
            assert no_broker.status_code == 503  # no command broker configured
            points = (await c.get("/v1/control/points")).json()
            assert {p["key"] for p in points if p["may_request"]} == {
                "glomfjord/smoltfarm/tank1/temp_setpoint",
                "glomfjord/smoltfarm/tank1/heater_setpoint"}
        for token in (farm, smelter):
            async with app.client(token) as c:
                kinds = [r["kind"] for r in (await c.get("/v1/control/audit")).json()]
                assert kinds == ["request_refused", "protective_declined",
                                 "protective_requested"]
        async with app.client(greenhouse) as c:
            assert (await c.get("/v1/control/audit")).json() == []
            assert (await c.get("/v1/control/points")).json() == []


async def test_a_ramp_whose_holder_is_gone_is_taken_over_held_and_audited(
        fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ramp live when its service stopped (no lease renewed since): the service that
    starts takes it over held, for an operator to resume from the last confirmed value; the
    plant holds the last value it applied."""
    monkeypatch.setenv("HEATLINK_ALERTS_RUN_WORKER", "false")
    farm = await make_token(fresh_database_url, "fjordsmolt", Role.OPERATOR)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        ramp_id = await conn.fetchval(
            """INSERT INTO control_ramps (point, owner, requested_by, target, rate_per_h,
                   status, steps, orgs, requested_at, updated_at)
               VALUES ('glomfjord/smoltfarm/tank1/temp_setpoint', 'fjordsmolt', 'x', 10, 1,
                       'running', 10, '{fjordsmolt,glomfjord-smelter}', now(), now())
               RETURNING id""")
    finally:
        await conn.close()
    async with running_app(Settings(database_url=fresh_database_url,
                                    retention_days=30)) as app, app.client(farm) as c:
        ramp = (await c.get(f"/v1/control/ramps/{ramp_id}")).json()
        assert ramp["status"] == "held"
        assert ramp["reasons"][-1] == ("owner lost: the service before a restart stopped "
                                       "renewing its lease")
        audit = (await c.get("/v1/control/audit", params={"ramp_id": ramp_id})).json()
        assert {r["kind"] for r in audit} == {"held"}
        assert audit[-1]["detail"]["why"] == "owner lost"  # the first


async def test_a_ramp_starts_only_from_a_fresh_good_plant_value(
        fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Issue 12: a caller-chosen start (1000 on a 0–20 point, or 13.99 while the tank stood
    at 10) once became the first command; now the plant's value is the only start."""
    monkeypatch.setenv("HEATLINK_ALERTS_RUN_WORKER", "false")
    keys = ControlKeys.make(tmp_path)
    farm = await make_token(fresh_database_url, "fjordsmolt", Role.OPERATOR)
    gateway = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                               gateway=GATEWAY)
    with control_broker() as broker:
        monkeypatch.setenv("HEATLINK_CONTROL_MQTT_URL", broker.broker.url_for(
            broker.service.name))
        monkeypatch.setenv("HEATLINK_CONTROL_SIGNING_KEY_FILE", str(keys.service_key_file))
        monkeypatch.setenv("HEATLINK_CONTROL_GATEWAY_KEYS_FILE", str(keys.gateway_keys_file))
        async with running_app(Settings(database_url=fresh_database_url,
                                        retention_days=30)) as app:
            now = datetime.now(UTC)

            async def tank(value: float, age_s: float, quality: str = "good") -> None:
                async with app.client(gateway) as c:
                    stored = await c.post("/v1/ingest", json={
                        "gateway": GATEWAY, "batch_id": f"b{value}-{age_s}", "readings": [{
                            "series": TEMP, "value": value, "quality": quality,
                            "ts": (now - timedelta(seconds=age_s)).isoformat()}]})
                assert stored.status_code == 200, stored.text

            async with app.client(farm) as c:
                async def ask(**body: Any) -> Any:
                    return await c.post("/v1/control/ramps", json={"point": POINT, **body})

                for start in (1000, 13.99):
                    refused = await ask(target=11.0, current_value=start)
                    assert refused.status_code == 422
                    assert "current_value" in refused.text
                    assert "never from a value the caller gives" in refused.text
                for target in (25, -273):
                    out_of_range = await ask(target=target)
                    assert out_of_range.status_code == 422
                    assert f"target {float(target)} is outside" in out_of_range.text
                for number in ("NaN", "Infinity", "1e400"):
                    not_finite = await c.post("/v1/control/ramps", content=(
                        f'{{"point": "{POINT}", "target": {number}}}').encode(),
                        headers={"Content-Type": "application/json"})
                    assert not_finite.status_code == 422, not_finite.text
                    assert "target" in not_finite.text
                    assert "finite" in not_finite.text

                nothing = await ask(target=11.0)
                assert nothing.status_code == 409
                assert "no fresh plant value" in nothing.json()["detail"]
                await tank(10.0, age_s=2 * 3600)  # too old to start from
                await tank(10.2, age_s=10, quality="bad")  # fresh but not good
                stale = await ask(target=11.0)
                assert stale.status_code == 409
                assert "10.0 at" in stale.json()["detail"]
                await tank(10.1, age_s=30)
                planned = await ask(target=11.0)
                assert planned.status_code == 201, planned.text
                ramp = planned.json()
                assert ramp["start_value"] == 10.1
                audit = (await c.get("/v1/control/audit")).json()
                requested = next(r for r in audit if r["kind"] == "requested")
                assert requested["detail"]["from_source"].startswith(TEMP)
                assert [r["kind"] for r in audit].count("request_refused") >= 4
