"""MQTT channel: publishes the message as JSON with QoS 1 to the subscription's topic (one
topic per organisation), and reports delivered once the broker acknowledged it (PUBACK).

``mqtts://`` connects over TLS and checks the broker's certificate (against ``ca_file``
when its CA is private); credentials come from the arguments or the URL's user part."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.channels.render import as_json
from alerts.model import Delivered, Message, Outcome, Retry
from heatlink.broker_url import parse_broker_url

CLOSE_CHECK_S = 0.1  # how often a waiting send looks whether the channel is closing


class PahoMqttChannel:
    name = "mqtt"

    def __init__(self, broker_url: str, *, client_id: str = "heatlink-alerts",
                 timeout_s: float = 10.0, username: str | None = None,
                 password: str | None = None, ca_file: Path | None = None) -> None:
        address = parse_broker_url(broker_url)
        self._host = address.host
        self._port = address.port
        self._timeout_s = timeout_s
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        # Settings' own credentials win over the URL's; the broker is closed, so the
        # service logs in as itself.
        username = username or address.username
        password = password or address.password
        if username:
            self._client.username_pw_set(username, password)
        if address.tls:
            self._client.tls_set(ca_certs=str(ca_file) if ca_file else None,
                                 cert_reqs=ssl.CERT_REQUIRED)
        self._connected = threading.Event()
        self._closing = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._started = False

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._connected.clear()

    def _ensure_connected(self) -> bool:
        if not self._started:
            self._client.connect_async(self._host, self._port)
            self._client.loop_start()  # paho's own thread reconnects by itself
            self._started = True
        return self._wait(self._connected.is_set, self._connected.wait)

    def _publish(self, topic: str, body: bytes) -> Outcome:
        if not self._ensure_connected():
            return Retry(f"broker {self._host}:{self._port} not connected")
        info = self._client.publish(topic, body, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return Retry(f"publish failed: {mqtt.error_string(info.rc)}")
        if not self._wait(info.is_published, info.wait_for_publish):
            return Retry("no PUBACK from the broker in time")
        return Delivered("PUBACK")

    def _wait(self, done: Callable[[], bool], wait: Callable[[float], object]) -> bool:
        """Up to the send timeout, in short waits: `close` must not wait for a send to a
        frozen broker to time out (the worker's thread pool is joined when it stops)."""
        deadline = time.monotonic() + self._timeout_s
        while not done() and not self._closing.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait(min(remaining, CLOSE_CHECK_S))
        return done()

    async def send(self, message: Message) -> Outcome:
        body = orjson.dumps(as_json(message))
        return await asyncio.to_thread(self._publish, message.address, body)

    async def close(self) -> None:
        self._closing.set()
        if self._started:
            await asyncio.to_thread(self._client.disconnect)
            await asyncio.to_thread(self._client.loop_stop)
