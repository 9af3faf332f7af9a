"""Issue 17, item 3: streams and control across replicas, on real `heatlink serve`
processes sharing one database."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from heatlink.cluster.loader import EXAMPLE_CLUSTER
from heatlink.commands import CommandResult, open_command, result_topic, sign_result
from heatlink.signing import TrustedKeys
from services.access.principal import Role
from tests.control.support import (
    GATEWAY,
    POINT,
    TEMP,
    BrokerTap,
    ControlBroker,
    ControlKeys,
    control_broker,
    until,
)
from tests.control.support import cluster_file as control_cluster_file
from tests.dashboard.sse import messages
from tests.support.replicas import service_replicas
from tests.support.service import ServiceProcess, make_token

pytestmark = pytest.mark.slow


@pytest.fixture
async def two(fresh_database_url: str) -> AsyncIterator[list[ServiceProcess]]:
    async with service_replicas(fresh_database_url, 2) as processes:
        yield processes


def client(process: ServiceProcess, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=process.url, headers=headers, timeout=30)


async def test_a_ticket_from_one_replica_opens_the_stream_on_another_once(
        two: list[ServiceProcess], fresh_database_url: str) -> None:
    a, b = two
    token = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    async with client(a, token) as farm:
        ticket = (await farm.post("/v1/stream/ticket")).json()
    async with client(b) as browser, asyncio.timeout(30), \
            browser.stream("GET", ticket["stream_url"]) as opened:
        assert opened.status_code == 200
        assert (await anext(messages(opened))).event == "hello"
    # Used on b: neither replica opens a second stream with it.
    for process in (a, b):
        async with client(process) as browser:
            again = await browser.get(ticket["stream_url"])
        assert again.status_code == 401
        assert "used" in again.json()["detail"]


async def test_one_ticket_given_to_both_replicas_at_once_opens_one_stream(
        two: list[ServiceProcess], fresh_database_url: str) -> None:
    token = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    async with client(two[0], token) as farm:
        ticket = (await farm.post("/v1/stream/ticket")).json()

    async def open_on(process: ServiceProcess) -> int:
        async with client(process) as browser, \
                browser.stream("GET", ticket["stream_url"]) as response:
            if response.status_code == 200:
                assert (await anext(messages(response))).event == "hello"
            return response.status_code

    async with asyncio.timeout(30):
        codes = await asyncio.gather(*(open_on(p) for p in two))
    assert sorted(codes) == [200, 401]


# ---- control: a ramp has one holder at a time ----------------------------------------------

LEASE_S = 2.0


@dataclass
class ControlCluster:
    replicas: list[ServiceProcess]
    database_url: str
    broker: ControlBroker
    keys: ControlKeys
    operator: str  # fjordsmolt, control scope
    gateway_token: str
    tap: BrokerTap  # sees every command and result on the broker


@pytest.fixture
async def control_cluster(fresh_database_url: str, tmp_path: Path
                          ) -> AsyncIterator[ControlCluster]:
    """Two replicas sharing one database and one closed broker, each with the service's
    login, keys and the same client id stem (each connects as <stem>-<its replica>)."""
    keys = ControlKeys.make(tmp_path)
    operator = await make_token(fresh_database_url, "fjordsmolt", Role.OPERATOR)
    gateway_token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                                     gateway=GATEWAY)
    with control_broker() as broker:
        env = {"HEATLINK_CONTROL_MQTT_URL": broker.url,
               "HEATLINK_CONTROL_MQTT_USERNAME": broker.service.name,
               "HEATLINK_CONTROL_MQTT_PASSWORD": broker.service.password,
               "HEATLINK_CONTROL_SIGNING_KEY_FILE": str(keys.service_key_file),
               "HEATLINK_CONTROL_GATEWAY_KEYS_FILE": str(keys.gateway_keys_file),
               "HEATLINK_CONTROL_CLIENT_ID": "heatlink-control",
               "HEATLINK_CONTROL_TICK_S": "0.1",
               "HEATLINK_CONTROL_LEASE_S": str(LEASE_S),
               "HEATLINK_CLUSTER_FILE": str(control_cluster_file(tmp_path)),
               "HEATLINK_ALERTS_RUN_WORKER": "false"}
        tap = BrokerTap(broker.broker.url, "heatlink/control/#")
        await tap.subscribed()
        first = ServiceProcess(fresh_database_url, env=env)
        await asyncio.to_thread(first.start)
        replicas = [first, ServiceProcess(fresh_database_url, env=env)]
        try:
            yield ControlCluster(replicas, fresh_database_url, broker, keys, operator,
                                 gateway_token, tap)
        finally:
            tap.close()
            for process in replicas:
                await asyncio.to_thread(process.stop)


async def tank_reading(cluster: ControlCluster, replica: ServiceProcess) -> None:
    """A fresh tank temperature: the ramp's start value and its fresh input."""
    async with client(replica, cluster.gateway_token) as gw:
        answer = await gw.post("/v1/ingest", json={
            "gateway": GATEWAY, "batch_id": uuid.uuid4().hex, "readings": [
                {"series": TEMP, "ts": datetime.now(UTC).isoformat(), "value": 10.0}]})
    assert answer.status_code == 200, answer.text


async def ramp(cluster: ControlCluster, replica: ServiceProcess,
               ramp_id: int) -> dict[str, Any]:
    async with client(replica, cluster.operator) as c:
        answer = await c.get(f"/v1/control/ramps/{ramp_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def audit_kinds(cluster: ControlCluster, replica: ServiceProcess,
                      ramp_id: int) -> list[dict[str, Any]]:
    async with client(replica, cluster.operator) as c:
        rows: list[dict[str, Any]] = (await c.get("/v1/control/audit",
                                                  params={"ramp_id": ramp_id})).json()
    return rows[::-1]  # oldest first


def service_keys(cluster: ControlCluster) -> TrustedKeys:
    return TrustedKeys({"service": [cluster.keys.service.public_text]})


def command_of(cluster: ControlCluster, ramp_id: int, but: str | None = None) -> Any:
    """A matcher of the ramp's commands on the broker (but the one whose id is ``but``)."""
    def match(topic: str, payload: bytes) -> bool:
        if not topic.endswith("/commands"):
            return False
        command = open_command(payload, service_keys(cluster))
        return command.ramp_id == ramp_id and command.id != but
    return match


async def test_a_ramp_keeps_one_holder_and_is_held_by_another_when_its_holder_dies(
        control_cluster: ControlCluster) -> None:
    cluster = control_cluster
    a, b = cluster.replicas
    await tank_reading(cluster, a)
    async with client(a, cluster.operator) as c:
        asked = await c.post("/v1/control/ramps", json={"point": POINT, "target": 12.0})
    assert asked.status_code in (200, 201), asked.text
    ramp_id = asked.json()["id"]
    first_step = await cluster.tap.first(command_of(cluster, ramp_id),
                                         "a's first step on the broker")
    first = open_command(first_step, service_keys(cluster))

    # A second replica starts: a's ramp is neither cancelled nor touched.
    await asyncio.to_thread(b.start)
    await tank_reading(cluster, b)
    # Both replicas on the broker at once: the gateway's answer to a's step reaches a (the
    # holder), which records it once; b leaves it alone.
    result = CommandResult(command_id=first.id, gateway=GATEWAY, ramp_id=ramp_id, point=POINT,
                           status="applied", value=first.value, readback=first.value,
                           at=datetime.now(UTC))
    cluster.tap.publish(result_topic(GATEWAY), sign_result(result, cluster.keys.gateway))

    async def applied() -> bool:
        return any(r["kind"] == "step_applied" for r in await audit_kinds(cluster, b, ramp_id))
    await until(applied, "a recorded the gateway's answer")
    # Each on its own client id: neither took the broker session from the other.
    for process in (a, b):
        assert "disconnected from the broker" not in process.log_tail(50_000)
    # The next step goes out at step_s (two minutes): until then the ramp just runs.
    assert (await ramp(cluster, b, ramp_id))["status"] == "running"
    kinds = [r["kind"] for r in await audit_kinds(cluster, b, ramp_id)]
    assert kinds == ["requested", "step_sent", "step_applied"]

    # a dies: when its lease runs out, b takes the ramp over, held for the operator.
    killed_at = datetime.now(UTC)
    await asyncio.to_thread(a.kill)

    async def held() -> bool:
        return (await ramp(cluster, b, ramp_id))["status"] == "held"
    await until(held, "b took the ramp over", timeout_s=30)
    taken = await ramp(cluster, b, ramp_id)
    assert taken["reasons"][0].startswith("owner lost")
    last = (await audit_kinds(cluster, b, ramp_id))[-1]
    assert last["kind"] == "held"
    assert last["detail"]["why"] == "owner lost"
    assert last["detail"]["confirmed_value"] == first.value
    # b sent nothing on its own: a held ramp waits for the operator.
    assert [open_command(p, service_keys(cluster)).id for t, p in cluster.tap.messages
            if t.endswith("/commands")] == [first.id]

    # The operator resumes it on b: b plans anew from the last confirmed value.
    async with client(b, cluster.operator) as c:
        resumed = await c.post(f"/v1/control/ramps/{ramp_id}/resume")
    assert resumed.status_code == 200, resumed.text
    next_step = await cluster.tap.first(command_of(cluster, ramp_id, but=first.id),
                                        "b's first step after the resume")
    command = open_command(next_step, service_keys(cluster))
    assert command.seq is not None
    assert first.seq is not None
    assert command.seq > first.seq
    assert command.issued_at > killed_at
    assert command.step == 1  # of the new plan, from the confirmed value
    kinds = [r["kind"] for r in await audit_kinds(cluster, b, ramp_id)]
    assert kinds[-4:] == ["held", "operator_resumed", "resumed", "step_sent"]
    assert "cancelled" not in kinds


# ---- live streams: every replica's readings and alerts --------------------------------------

TANK_BAND_HIGH = 16.0  # tank1-band: above this for 30 s (source time) is a breach
SHARED = "glomfjord/smelter/hx1/secondary/supply_temp"  # the smelter's, shared with the farm


async def test_a_stream_on_one_replica_sees_readings_and_alerts_stored_through_another(
        fresh_database_url: str, tmp_path: Path) -> None:
    doc = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    doc.setdefault("alerting", {})["group_window_s"] = 0  # the alert goes out at once
    cluster_path = tmp_path / "cluster.yaml"
    cluster_path.write_text(yaml.safe_dump(doc))
    farm_token = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    gw_token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                                gateway=GATEWAY)
    a = ServiceProcess(fresh_database_url, cluster_file=cluster_path)
    # b delivers no alerts itself: an alert on b's streams can only have come from a.
    b = ServiceProcess(fresh_database_url, cluster_file=cluster_path,
                       env={"HEATLINK_ALERTS_RUN_WORKER": "false"})
    try:
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        async with client(b, farm_token) as farm, client(a, gw_token) as gw, \
                asyncio.timeout(60), farm.stream("GET", "/v1/stream") as response:
            stream = messages(response)
            assert (await anext(stream)).event == "hello"
            now = datetime.now(UTC)
            # Through a: a shared reading, then a breach of the farm's tank band.
            answer = await gw.post("/v1/ingest", json={
                "gateway": GATEWAY, "batch_id": uuid.uuid4().hex, "readings": [
                    {"series": SHARED, "ts": now.isoformat(), "value": 18.25},
                    *({"series": TEMP, "ts": (now - timedelta(seconds=s)).isoformat(),
                       "value": TANK_BAND_HIGH + 3} for s in (60, 30, 0))]})
            assert answer.status_code == 200, answer.text
            values: list[dict[str, Any]] = []
            alert = None
            last_id = None
            async for message in stream:
                if message.event == "values":
                    values.extend(message.data["values"])
                    last_id = message.id
                if message.event == "alert" and any(
                        n["alert"]["rule_id"] == "tank1-band"
                        for n in message.data["notifications"]):
                    alert = message
                    break
        assert {(v["series"], v["value"]) for v in values} >= {(SHARED, 18.25),
                                                                (TEMP, TANK_BAND_HIGH + 3)}
        assert alert is not None
        # The farm's browser reconnects to a with b's last id, after one more reading
        # went in through b: it gets that reading and nothing it had, and no gap.
        later = datetime.now(UTC) + timedelta(seconds=1)
        async with client(b, gw_token) as gw:
            answer = await gw.post("/v1/ingest", json={
                "gateway": GATEWAY, "batch_id": uuid.uuid4().hex,
                "readings": [{"series": SHARED, "ts": later.isoformat(), "value": 18.5}]})
            assert answer.status_code == 200, answer.text
        async with client(a, farm_token) as farm, asyncio.timeout(30), \
                farm.stream("GET", "/v1/stream",
                            headers={"Last-Event-ID": str(last_id)}) as response:
            stream = messages(response)
            assert (await anext(stream)).event == "hello"
            resumed: list[dict[str, Any]] = []
            async for message in stream:
                assert message.event != "gap", message.data
                if message.event == "values":
                    resumed.extend(message.data["values"])
                if any(v["value"] == 18.5 for v in resumed):
                    break
        assert [(v["series"], v["value"]) for v in resumed] == [(SHARED, 18.5)]
    finally:
        for process in (a, b):
            await asyncio.to_thread(process.stop)


async def test_a_frozen_holder_that_thaws_is_fenced_off_and_any_replica_cancels(
        control_cluster: ControlCluster) -> None:
    """SIGSTOP: the holder keeps its connections and its ramp in memory but renews nothing,
    as a hung process or a host cut off does. Another replica takes the ramp over; when the
    frozen one thaws it writes nothing more for it, and a cancel sent to it reaches the
    ramp wherever it is held."""
    cluster = control_cluster
    a, b = cluster.replicas
    await asyncio.to_thread(b.start)
    await tank_reading(cluster, a)
    async with client(a, cluster.operator) as c:
        asked = await c.post("/v1/control/ramps", json={"point": POINT, "target": 12.0})
    assert asked.status_code in (200, 201), asked.text
    ramp_id = asked.json()["id"]
    first = open_command(await cluster.tap.first(command_of(cluster, ramp_id),
                                                 "a's first step"), service_keys(cluster))
    assert a.process is not None
    a.process.send_signal(signal.SIGSTOP)
    try:
        async def held() -> bool:
            return (await ramp(cluster, b, ramp_id))["status"] == "held"
        await until(held, "b took the frozen holder's ramp over", timeout_s=30)
    finally:
        a.process.send_signal(signal.SIGCONT)
    # The gateway answers a's step only now: both replicas hear it; a no longer holds the
    # ramp and writes nothing for it, b records it as the late answer it is.
    result = CommandResult(command_id=first.id, gateway=GATEWAY, ramp_id=ramp_id, point=POINT,
                           status="applied", value=first.value, readback=first.value,
                           at=datetime.now(UTC))
    cluster.tap.publish(result_topic(GATEWAY), sign_result(result, cluster.keys.gateway))

    async def late() -> bool:
        return any(r["kind"] == "late_answer" for r in await audit_kinds(cluster, b, ramp_id))
    await until(late, "b recorded the late answer")

    async def a_let_go() -> bool:
        return "no longer held here" in a.log_tail(20_000)
    await until(a_let_go, "a noticed it lost the ramp")
    kinds = [r["kind"] for r in await audit_kinds(cluster, b, ramp_id)]
    assert kinds == ["requested", "step_sent", "held", "late_answer"]
    assert (await ramp(cluster, b, ramp_id))["confirmed_value"] == first.value

    # Cancelled through a, which does not hold it: b is fenced off and sends nothing more.
    async with client(a, cluster.operator) as c:
        cancelled = await c.post(f"/v1/control/ramps/{ramp_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (await ramp(cluster, b, ramp_id))["status"] == "cancelled"
    async with client(b, cluster.operator) as c:
        resumed = await c.post(f"/v1/control/ramps/{ramp_id}/resume")
    assert resumed.status_code == 409, resumed.text
    assert [open_command(p, service_keys(cluster)).id for t, p in cluster.tap.messages
            if t.endswith("/commands")] == [first.id]
    kinds = [r["kind"] for r in await audit_kinds(cluster, b, ramp_id)]
    assert kinds[-1] == "cancelled"
