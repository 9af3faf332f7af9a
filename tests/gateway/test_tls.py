"""The MQTT and Sparkplug sources over TLS with a username and a password from the
environment, against Mosquitto with a TLS listener and a CA made for the test."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import HttpConfig, SparkplugSourceConfig, load_config
from heatlink.wire import format_ts
from simulators.sparkplug_edge import EdgeMetric, SparkplugEdgeNode
from tests.gateway.support import WatchingUplink, config_for, eventually, mqtt_source, running
from tests.gateway.test_sparkplug import SUPPLY, group_name, sparkplug_source
from tests.support.tls import TlsBroker, tls_mosquitto

GATEWAY, PLANT = ("gateway", "gw-secret"), ("plant", "plant-secret")


@pytest.fixture(scope="module")
def broker() -> Iterator[TlsBroker]:
    with tls_mosquitto(dict([GATEWAY, PLANT])) as tls:
        yield tls


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HEATLINK_TEST_MQTT_PASSWORD", GATEWAY[1])
    return "HEATLINK_TEST_MQTT_PASSWORD"


def tls_options(broker: TlsBroker, password_env: str) -> dict[str, object]:
    return {"username": GATEWAY[0], "password_env": password_env,
            "ca_file": str(broker.ca_file)}


async def test_mqtt_source_over_tls_with_credentials(
        broker: TlsBroker, secret: str, tmp_path: Path) -> None:
    uplink = WatchingUplink()
    source = mqtt_source(broker.url(), **tls_options(broker, secret))
    async with running(config_for(tmp_path, [source]), uplink) as gateway:
        await eventually(lambda: gateway.sources[0].up, what="subscribed over TLS")
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-plant")
        publisher.username_pw_set(*PLANT)
        publisher.tls_set(ca_certs=str(broker.ca_file), cert_reqs=ssl.CERT_REQUIRED)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        ts = datetime(2026, 1, 15, 6, tzinfo=UTC)
        publisher.publish(f"heatlink-sim/{SUPPLY}", f'{{"value": 31.5, "ts": "{format_ts(ts)}"}}',
                          qos=1).wait_for_publish(10)
        got = await uplink.until(lambda rs: len(rs) == 1)
        assert [(r.series, r.ts, r.value) for r in got] == [(SUPPLY, ts, 31.5)]
        publisher.disconnect()
        publisher.loop_stop()


async def test_sparkplug_source_over_tls_with_credentials(
        broker: TlsBroker, secret: str, tmp_path: Path) -> None:
    group = group_name()
    uplink = WatchingUplink()
    source = sparkplug_source(broker.url(), group, **tls_options(broker, secret))
    async with running(config_for(tmp_path, [source]), uplink):
        edge = SparkplugEdgeNode(broker.url(*PLANT), group, "smelter-edge",
                                 {"hx1": [EdgeMetric("Primary/SupplyTemp", 1, 30.5)]},
                                 primary_host=f"heatlink-{group}", ca_file=broker.ca_file)
        await edge.start()
        got = await uplink.until(lambda rs: len(rs) == 1)
        assert [(r.series, r.value) for r in got] == [(SUPPLY, 30.5)]
        await edge.stop()


async def test_a_wrong_password_is_named_as_the_brokers_refusal(
        broker: TlsBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEATLINK_TEST_MQTT_PASSWORD", "wrong")
    source = mqtt_source(broker.url(), **tls_options(broker, "HEATLINK_TEST_MQTT_PASSWORD"))
    async with running(config_for(tmp_path, [source])) as gateway:
        stats = gateway.sources[0].stats
        await eventually(lambda: stats.reconnects_total >= 2, what="two refusals")
        assert stats.last_error == "broker refused the connection: Not authorized"
        assert not gateway.sources[0].up


async def test_the_sparkplug_example_runs_against_a_tls_broker(
        broker: TlsBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    example = load_config(Path(__file__).parents[2] / "gateway" / "examples" / "sparkplug.yaml")
    source = example.sources[0]
    assert isinstance(source, SparkplugSourceConfig)
    group = group_name()
    monkeypatch.setenv(str(source.password_env), GATEWAY[1])
    source = source.model_copy(update={"url": broker.url(), "ca_file": broker.ca_file,
                                       "username": GATEWAY[0], "group_id": group,
                                       "host_id": f"heatlink-{group}"})
    config = example.model_copy(update={
        "sources": [source], "http": HttpConfig(port=0),
        "buffer": example.buffer.model_copy(update={"path": tmp_path / "buffer.sqlite3"}),
        "uplink": example.uplink.model_copy(update={"token": "t", "token_env": None,
                                                    "dead_letter_path": tmp_path / "dead"})})
    assert config.unset_secrets() == []
    uplink = WatchingUplink()
    async with running(config, uplink):
        edge = SparkplugEdgeNode(broker.url(*PLANT), group, "smelter-edge", {"hx1": [
            EdgeMetric("Primary/SupplyTemp", 1, 30.5), EdgeMetric("Primary/Flow", 2, 9.0)]},
            primary_host=f"heatlink-{group}", ca_file=broker.ca_file)
        await edge.start()
        got = await uplink.until(lambda rs: len(rs) == 2)
        assert {(r.series, r.value, r.unit) for r in got} == {
            (SUPPLY, 30.5, None), ("glomfjord/smelter/hx1/primary/flow", 9.0, "l/s")}
        await edge.stop()
