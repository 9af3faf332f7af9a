"""The alert MQTT channel over TLS with credentials, against Mosquitto with a TLS listener
and a CA made for the test."""

from __future__ import annotations

import asyncio
import json

from alerts.channels.mqtt import PahoMqttChannel
from alerts.model import Delivered, Message, Retry
from tests.support.tls import tls_mosquitto, tls_subscriber

TOPIC = "heatlink/fjordsmolt/alerts"


def message() -> Message:
    item = {"title": "Tank 1 below 10 °C in 14 min", "severity": "alarm"}
    return Message("hl-1-1-tls", "mqtt", TOPIC, "fjordsmolt", "night shift", (item,))


async def test_alerts_are_published_over_tls_with_credentials() -> None:
    with tls_mosquitto({"alerts": "al3rts", "farm": "f4rm"}) as broker:
        async with tls_subscriber(broker, "farm", "f4rm", TOPIC) as received:
            channel = PahoMqttChannel(broker.url(), username="alerts", password="al3rts",
                                      ca_file=broker.ca_file, timeout_s=5)
            try:
                assert await channel.send(message()) == Delivered("PUBACK")
            finally:
                await channel.close()
            topic, payload = await asyncio.wait_for(received.get(), 10)
        assert topic == TOPIC
        assert "Tank 1 below 10 °C" in json.dumps(json.loads(payload), ensure_ascii=False)


async def test_a_wrong_password_is_a_retry_not_a_delivery() -> None:
    with tls_mosquitto({"alerts": "al3rts"}) as broker:
        channel = PahoMqttChannel(broker.url("alerts", "wrong"), ca_file=broker.ca_file,
                                  timeout_s=1)
        try:
            assert isinstance(await channel.send(message()), Retry)
        finally:
            await channel.close()
