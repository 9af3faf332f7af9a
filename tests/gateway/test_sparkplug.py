"""The Sparkplug source against a real Mosquitto and the simulator's edge node (which encodes
with its own schema, not the gateway's generated code): births, data by alias, deaths,
rebirth after a seq gap, historical values, the host's STATE, acknowledgement after
buffering."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway import sparkplug_source as sparkplug_source_module
from gateway.config import SparkplugSourceConfig
from gateway.protocols import Arrival
from gateway.runner import Gateway
from gateway.sparkplug_source import SparkplugSource
from heatlink.clock import SystemClock
from heatlink.testing import FakeClock
from heatlink.wire import Reading
from simulators.sparkplug_edge import EdgeMetric, SparkplugEdgeNode
from tests.gateway.support import WatchingUplink, config_for, eventually, running
from tests.support.servers import Mosquitto, broker_login
from tests.support.tcp_proxy import TcpProxy

SUPPLY = "glomfjord/smelter/hx1/primary/supply_temp"
FLOW = "glomfjord/smelter/hx1/primary/flow"
RETURN = "glomfjord/smelter/hx1/primary/return_temp"


def sparkplug_source(url: str, group: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "sparkplug", "name": "edge", "url": url, "group_id": group,
            "host_id": f"heatlink-{group}", "reconnect": {"initial_s": 0.2, "max_s": 1},
            "metrics": [
                {"node": "smelter-edge", "device": "hx1", "metric": "Primary/SupplyTemp",
                 "series": SUPPLY},
                {"node": "smelter-edge", "device": "hx1", "metric": "Primary/Flow",
                 "series": FLOW},
                {"node": "smelter-edge", "device": "hx1", "metric": "Primary/ReturnTemp",
                 "series": RETURN, "unit": "degC"}],
            **extra}


def edge_node(url: str, group: str, **extra: Any) -> SparkplugEdgeNode:
    return SparkplugEdgeNode(url, group, "smelter-edge", {"hx1": [
        EdgeMetric("Primary/SupplyTemp", 1, 31.0, unit="°C"),
        EdgeMetric("Primary/Flow", 2, 40.0, "Float", unit="l/s"),
        EdgeMetric("Primary/ReturnTemp", 3, 24, "Int32"),
        EdgeMetric("Secondary/SupplyTemp", 4, 14.0)]},
        primary_host=f"heatlink-{group}", **extra)


def group_name() -> str:
    return f"Glomfjord-{uuid.uuid4().hex[:6]}"


def of(series: str, readings: list[Reading]) -> list[Reading]:
    return [r for r in readings if r.series == series]


async def test_births_and_data_by_alias_arrive_with_their_units(
        mqtt_url: str, tmp_path: Path) -> None:
    group = group_name()
    uplink = WatchingUplink()
    async with running(config_for(tmp_path, [sparkplug_source(mqtt_url, group)]), uplink):
        edge = edge_node(mqtt_url, group)
        # The edge node waits for the gateway's online STATE before its births.
        await edge.start()
        got = await uplink.until(lambda rs: len(of(RETURN, rs)) == 1)
        assert [(r.value, r.unit, r.quality) for r in of(SUPPLY, got)] == [(31.0, "degC", "good")]
        assert [(r.value, r.unit) for r in of(FLOW, got)] == [(40.0, "l/s")]
        ts = datetime(2026, 1, 15, 6, 0, 1, tzinfo=UTC)
        edge.data("hx1", {"Primary/SupplyTemp": 31.5, "Primary/ReturnTemp": -2}, ts=ts)
        got = await uplink.until(lambda rs: len(of(RETURN, rs)) == 2)
        assert (of(SUPPLY, got)[-1].ts, of(SUPPLY, got)[-1].value) == (ts, 31.5)
        assert of(RETURN, got)[-1].value == -2.0  # an Int32 sent as two's complement
        await edge.stop()


async def test_a_node_death_makes_its_series_unknown_at_once(
        mqtt_url: str, tmp_path: Path) -> None:
    group = group_name()
    uplink = WatchingUplink()
    async with running(config_for(tmp_path, [sparkplug_source(mqtt_url, group)]), uplink):
        edge = edge_node(mqtt_url, group)
        await edge.start()
        await uplink.until(lambda rs: len(of(RETURN, rs)) == 1)
        edge.data("hx1", {"Primary/SupplyTemp": 32.5})
        await uplink.until(lambda rs: len(of(SUPPLY, rs)) == 2)
        await edge.die()  # the broker publishes the node's will, its NDEATH
        got = await uplink.until(lambda rs: any(r.quality == "unknown" for r in rs))
        unknown = {r.series: r.value for r in got if r.quality == "unknown"}
        assert unknown == {SUPPLY: 32.5, FLOW: 40.0, RETURN: 24.0}


async def test_a_sequence_gap_is_answered_by_a_rebirth_request(
        mqtt_url: str, tmp_path: Path) -> None:
    group = group_name()
    clock = FakeClock(datetime.now(UTC))
    source = sparkplug_source(mqtt_url, group, reorder_timeout_s=5)
    gateway = Gateway(config_for(tmp_path, [source]), clock=clock, uplink=WatchingUplink())
    task = asyncio.create_task(gateway.run())
    edge = edge_node(mqtt_url, group)
    try:
        await edge.start()
        edge.skip_seq()  # a message lost on the way
        edge.data("hx1", {"Primary/SupplyTemp": 31.2})
        await eventually(lambda: gateway.sources[0].stats.readings_total >= 4)
        assert edge.rebirths_total == 0
        clock.advance(6)  # past the reorder timeout, and nothing filled the gap
        await asyncio.wait_for(edge.rebirth_requested.wait(), 15)
        assert edge.rebirths_total == 1
        assert gateway.sources[0].stats.events["rebirth_requested"] == 1
    finally:
        await edge.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_historical_values_are_stored_with_their_own_timestamps(
        mqtt_url: str, tmp_path: Path) -> None:
    group = group_name()
    uplink = WatchingUplink()
    async with running(config_for(tmp_path, [sparkplug_source(mqtt_url, group)]), uplink):
        edge = edge_node(mqtt_url, group)
        await edge.start()
        await uplink.until(lambda rs: len(of(RETURN, rs)) == 1)
        past = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        for minute in range(3):  # what the edge stored while its link was down
            edge.data("hx1", {"Primary/SupplyTemp": 30.0 + minute},
                      ts=past + timedelta(minutes=minute), historical=True)
        got = await uplink.until(lambda rs: len(of(SUPPLY, rs)) == 4)
        assert [(r.ts, r.value) for r in of(SUPPLY, got)[1:]] == [
            (past + timedelta(minutes=m), 30.0 + m) for m in range(3)]
        await edge.stop()


class RetainedState:
    """Reads the retained STATE of a host with a fresh subscriber."""

    def __init__(self, url: str, host_id: str) -> None:
        self.url, self.topic = url, f"spBv1.0/STATE/{host_id}"

    async def read(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[dict[str, Any]] = loop.create_future()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        host, port = broker_login(client, self.url)
        client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            doc = {"retained": message.retain, **json.loads(message.payload)}
            loop.call_soon_threadsafe(lambda: got.done() or got.set_result(doc))

        client.on_message = on_message
        client.connect(host, port)
        client.loop_start()
        try:
            return await asyncio.wait_for(got, 10)
        finally:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)


async def test_state_is_retained_online_and_replaced_on_a_clean_stop(
        mqtt_url: str, tmp_path: Path) -> None:
    group = group_name()
    state = RetainedState(mqtt_url, f"heatlink-{group}")
    config = config_for(tmp_path, [sparkplug_source(mqtt_url, group)])
    async with running(config) as gateway:
        await eventually(lambda: gateway.sources[0].up, what="subscribed")
        online = await state.read()
    offline = await state.read()
    assert online["retained"]
    assert online["online"] is True
    assert offline["retained"]
    assert offline["online"] is False
    assert offline["timestamp"] >= online["timestamp"]


async def test_when_the_host_dies_its_will_leaves_state_offline_with_the_births_time(
        mqtt_url: str, tmp_path: Path) -> None:
    group = group_name()
    state = RetainedState(mqtt_url, f"heatlink-{group}")
    proxy = await TcpProxy(urlsplit(mqtt_url).port or 1883).start()
    login = urlsplit(mqtt_url).netloc.rpartition("@")[0]  # the closed broker's login
    proxied = f"mqtt://{login}@127.0.0.1:{proxy.port}" if login else \
        f"mqtt://127.0.0.1:{proxy.port}"
    config = config_for(tmp_path, [sparkplug_source(proxied, group,
                                                    reconnect={"initial_s": 30, "max_s": 30})])
    try:
        async with running(config) as gateway:
            await eventually(lambda: gateway.sources[0].up, what="subscribed")
            online = await state.read()
            proxy.cut()  # no DISCONNECT: the broker publishes the will
            await eventually(lambda: not gateway.sources[0].up, what="the loss seen")
            will = await _state_until(state, online=False)
    finally:
        await proxy.close()
    assert online["online"] is True
    assert will["retained"]
    assert will["timestamp"] == online["timestamp"]


async def _state_until(state: RetainedState, *, online: bool) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            found = await state.read()
            if found["online"] is online:
                return found
            await asyncio.sleep(0.05)  # the broker's state: nothing to await


async def test_qos1_data_is_acknowledged_only_once_buffered(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    """A DDATA read but not acknowledged comes again after the broker restarts."""
    group = group_name()
    config = SparkplugSourceConfig.model_validate(sparkplug_source(mosquitto.url, group))
    stream = SparkplugSource(config, SystemClock()).stream()
    edge = edge_node(mosquitto.url, group)
    started = asyncio.ensure_future(edge.start())
    (await _next_with(stream, lambda r: r.series == RETURN)).ack()
    await started
    ts = datetime(2026, 1, 15, 6, 0, 5, tzinfo=UTC)
    edge.data("hx1", {"Primary/SupplyTemp": 33.0}, ts=ts, qos=1)
    arrival = await _next_with(stream, lambda r: r.ts == ts)
    assert [(r.value, r.ts) for r in arrival.readings] == [(33.0, ts)]
    mosquitto.restart()  # the gateway never acknowledged the DDATA
    again = await _next_with(stream, lambda r: r.ts == ts and r.quality == "good")
    assert [r.value for r in again.readings if r.ts == ts] == [33.0]
    again.ack()
    await edge.stop()
    await stream.aclose()


async def _next_with(stream: AsyncIterator[Arrival], wanted: Callable[[Reading], bool]
                     ) -> Arrival:
    """The next arrival holding a wanted reading; those before it are acknowledged."""
    async with asyncio.timeout(20):
        while True:
            arrival = await anext(stream)
            if any(wanted(r) for r in arrival.readings):
                return arrival
            arrival.ack()


async def test_a_flood_of_made_up_topics_neither_grows_the_host_nor_stops_the_real_ones(
        mqtt_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Topics are parsed once and kept, up to a bound: anyone on the broker may publish
    under the group's namespace, and each topic they make up must not cost memory."""
    monkeypatch.setattr(sparkplug_source_module, "MAX_TOPICS", 4)
    group = group_name()
    uplink = WatchingUplink()
    async with running(config_for(tmp_path, [sparkplug_source(mqtt_url, group)]),
                       uplink) as gateway:
        source = gateway.sources[0]
        assert isinstance(source, SparkplugSource)
        await eventually(lambda: source.up)
        host, port = urlsplit(mqtt_url).hostname, urlsplit(mqtt_url).port
        flood = [{"topic": f"spBv1.0/{group}/DDATA/made-up-{k}/dev", "payload": b"\x08\x01",
                  "qos": 1} for k in range(40)]
        login = urlsplit(mqtt_url)
        await asyncio.to_thread(publish.multiple, flood, hostname=host or "127.0.0.1",
                                port=port or 1883, protocol=MQTTProtocolVersion.MQTTv5,
                                auth={"username": login.username or "",
                                      "password": login.password})
        # Each made-up node is asked to be born (and never is): every message was read.
        await eventually(lambda: source.stats.events["rebirth_requested"] >= 40)
        edge = edge_node(mqtt_url, group)
        await edge.start()
        got = await uplink.until(lambda rs: len(of(RETURN, rs)) == 1)
        assert [r.value for r in of(SUPPLY, got)] == [31.0]
        await edge.stop()
        assert len(source._topics) == 4
