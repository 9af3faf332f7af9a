"""The simulator's MQTT publisher over TLS with credentials, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulators.mqtt_publisher import MqttPublisher
from tests.support.servers import BrokerUser, Mosquitto
from tests.support.tls import write_test_ca

USER, PASSWORD = "simulator", "pa55word"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    tls = write_test_ca(tmp_path / "tls")
    broker = Mosquitto(users=[BrokerUser(USER, PASSWORD, read=("heatlink-sim/#",),
                                         write=("heatlink-sim/#",))], tls=tls)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


async def test_publishes_over_tls_with_credentials(tls_broker: Mosquitto) -> None:
    assert tls_broker.tls is not None
    ca_file = tls_broker.tls.ca_file
    received: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    subscribed, arrived = asyncio.Event(), asyncio.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="heatlink-tls-sub")
    sub.username_pw_set(USER, PASSWORD)
    sub.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED)
    sub.on_connect = lambda c, *_: c.subscribe("heatlink-sim/#", qos=1)
    sub.on_subscribe = lambda *_: loop.call_soon_threadsafe(subscribed.set)

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        received.append(json.loads(msg.payload))
        loop.call_soon_threadsafe(arrived.set)

    sub.on_message = on_message
    sub.connect("127.0.0.1", tls_broker.tls_port)
    sub.loop_start()
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        url = tls_broker.url_for(USER, tls=True)
        publisher = MqttPublisher(url, ca_file=ca_file)
        await publisher.start()
        ts = datetime(2026, 1, 15, 6, tzinfo=UTC)
        publisher.publish("glomfjord/smoltfarm/tank1/temp", ts, 12.03, "good")
        await publisher.flush()
        await publisher.stop()
        await asyncio.wait_for(arrived.wait(), 10)
        assert received == [{"value": 12.03, "ts": "2026-01-15T06:00:00.000000+00:00",
                             "quality": "good"}]
    finally:
        sub.disconnect()
        sub.loop_stop()


async def test_wrong_credentials_are_refused(tls_broker: Mosquitto) -> None:
    assert tls_broker.tls is not None
    url = f"mqtts://{USER}:wrong@127.0.0.1:{tls_broker.tls_port}"
    publisher = MqttPublisher(url, ca_file=tls_broker.tls.ca_file)
    with pytest.raises(ConnectionError, match="refused"):
        await publisher.start()
