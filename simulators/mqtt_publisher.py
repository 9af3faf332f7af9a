"""MQTT side of the simulator: one paho-mqtt client (callback API v2), QoS 1, JSON payloads.

Topic ``<prefix>/<series key>``, payload ``{"value": .., "ts": "RFC 3339", "quality": ..}``.
``mqtts://`` turns on TLS (with ``ca_file`` when the broker's CA is private); a user and
password in the URL are sent as credentials. paho keeps unacknowledged QoS 1 messages
and sends them again after a reconnect, so a broker restart loses nothing in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from heatlink.aio import wait_event
from heatlink.wire import format_ts

DEFAULT_TOPIC_PREFIX = "heatlink-sim"
log = logging.getLogger(__name__)


def encode_payload(ts: datetime, value: float, quality: str) -> bytes:
    return json.dumps({"value": value, "ts": format_ts(ts), "quality": quality},
                      separators=(",", ":")).encode()


class MqttPublisher:
    def __init__(self, url: str, *, topic_prefix: str = DEFAULT_TOPIC_PREFIX,
                 ca_file: Path | None = None, client_id: str = "heatlink-sim",
                 qos: int = 1) -> None:
        self.url = url
        self.topic_prefix = topic_prefix
        self.ca_file = ca_file
        self.qos = qos
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv311, clean_session=False)
        self._connected: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._sent = 0
        self._acked = 0
        self._drained: asyncio.Event | None = None
        self._refused: str | None = None
        self.started = False

    def topic_for(self, key: str) -> str:
        return f"{self.topic_prefix}/{key}"

    async def start(self, timeout_s: float = 10.0) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"not an MQTT URL: {self.url!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        client = self._client
        if parts.username:
            client.username_pw_set(unquote(parts.username),
                                   unquote(parts.password) if parts.password else None)
        if tls:
            client.tls_set(ca_certs=str(self.ca_file) if self.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.max_inflight_messages_set(100)  # paho slows down with large windows
        client.max_queued_messages_set(0)  # unlimited: the simulator must not drop samples
        client.reconnect_delay_set(1, 5)
        self._loop = asyncio.get_running_loop()
        self._connected = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        client.connect_async(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883))
        client.loop_start()
        if not await wait_event(self._connected, timeout_s):
            await asyncio.to_thread(client.loop_stop)
            raise ConnectionError(f"no connection to {parts.hostname}:{parts.port} within "
                                  f"{timeout_s:g} s")
        if self._refused is not None:
            await asyncio.to_thread(client.loop_stop)
            raise ConnectionError(f"the broker refused the connection: {self._refused}")
        self.started = True

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            # Bad credentials do not get better by retrying: tell start() and stop trying.
            self._refused = str(reason)
            client.disconnect()
        else:
            log.info("MQTT connected to %s", self.url.split("@")[-1])
        if self._loop is not None and self._connected is not None:
            self._loop.call_soon_threadsafe(self._connected.set)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if self.started:
            return  # paho keeps retrying after a lost connection; only the first one counts
        self._refused = "no broker answers there"
        client.disconnect()
        if self._loop is not None and self._connected is not None:
            self._loop.call_soon_threadsafe(self._connected.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        # paho reconnects by itself and resends unacknowledged QoS 1 messages.
        if reason.is_failure:
            log.warning("MQTT connection lost (%s); reconnecting", reason)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        with self._lock:
            self._acked += 1
            drained = self._acked >= self._sent
        if drained and self._loop is not None and self._drained is not None:
            self._loop.call_soon_threadsafe(self._drained.set)

    def publish(self, key: str, ts: datetime, value: float, quality: str) -> None:
        """Queue one sample; paho sends it from its network thread."""
        self.publish_raw(self.topic_for(key), encode_payload(ts, value, quality))

    def publish_raw(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self._sent += 1
        self._client.publish(topic, payload, qos=self.qos)

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until the broker has acknowledged everything published so far."""
        if self.qos == 0 or self._drained is None:
            return
        async with asyncio.timeout(timeout_s):
            while True:
                self._drained.clear()
                with self._lock:
                    if self._acked >= self._sent:
                        return
                await self._drained.wait()

    async def stop(self) -> None:
        self.started = False
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
