"""`CommandSubscription`: the gateway's persistent MQTT session on its command topic.

Clean start off with a session expiry, QoS 1 and manual acknowledgement: the broker keeps
commands published while the gateway is away and redelivers any the gateway received but
did not finish. A command is acknowledged only after its result is published, so a crash
between the two redelivers it; the command's expiry and the writer's idempotent absolute
value make the redelivery harmless.

paho runs its own network thread here (``loop_start``), unlike the readings source: this
channel carries a few messages a minute, so simplicity wins over throughput. Messages
cross into the event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.config import ControlConfig
from heatlink.commands import command_topic, result_topic

log = logging.getLogger("gateway.control")

Inbound = tuple[int, bytes]  # (message id, payload)


class CommandSubscription:
    def __init__(self, config: ControlConfig, gateway_id: str) -> None:
        self.config = config
        self.command_topic = command_topic(gateway_id, config.topic_prefix)
        self.result_topic = result_topic(gateway_id, config.topic_prefix)
        self.inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._was_up = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                             protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.resolved_password())
        if cfg.mqtt_url.startswith("mqtts://"):
            client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = cfg.session_expiry_s
        parts = urlsplit(cfg.mqtt_url)
        client.connect_async(parts.hostname or "localhost",
                             parts.port or (8883 if parts.scheme == "mqtts" else 1883),
                             clean_start=False, properties=props)
        client.loop_start()
        self._client = client

    async def stop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.disconnect()
            # Joining paho's thread may wait on its socket: never on the event loop.
            await asyncio.to_thread(client.loop_stop)

    def publish_result(self, payload: bytes) -> mqtt.MQTTMessageInfo:
        if self._client is None:
            raise RuntimeError("not started")
        return self._client.publish(self.result_topic, payload, qos=1)

    def ack(self, mid: int) -> None:
        if self._client is not None:
            self._client.ack(mid, 1)

    # ---- paho callbacks, on paho's thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        if reason.is_failure:
            log.warning("control: broker refused the connection: %s", reason)
            return
        client.subscribe(self.command_topic, qos=1)
        log.info("control: subscribed to %s", self.command_topic)
        self._was_up = True
        self._call(self.connected.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       props: Any) -> None:
        if self._was_up:
            log.warning("control: disconnected from the broker (%s)", reason)
            self._was_up = False
        self._call(self.connected.clear)

    def _on_message(self, client: mqtt.Client, userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        self._call(self.inbox.put_nowait, (message.mid, bytes(message.payload)))

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)
