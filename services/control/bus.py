"""`CommandBus`: the service's MQTT session for commands out and results in.

Results arrive on a persistent session (clean start off) at QoS 1 and are acknowledged
only after the runtime stored them, so a result sent while the service was down arrives
when it is back. paho runs its own thread: this channel carries a few messages a minute.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from heatlink.commands import SetpointCommand, command_topic, result_filter

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 86_400


class CommandBus:
    def __init__(self, url: str, client_id: str, topic_prefix: str, *,
                 username: str | None = None, password: str | None = None,
                 ca_file: Path | None = None) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.ca_file = ca_file
        self.client_id = client_id
        self.topic_prefix = topic_prefix
        self.inbox: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.url.startswith("mqtts://"):
            client.tls_set(ca_certs=str(self.ca_file) if self.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        parts = urlsplit(self.url)
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

    def send(self, gateway: str, command: SetpointCommand) -> None:
        """Queue a command at QoS 1; paho sends it once connected. Its expiry bounds how
        late the gateway may apply it, so no answer is awaited here."""
        if self._client is None:
            raise RuntimeError("the command bus is not started")
        self._client.publish(command_topic(gateway, self.topic_prefix),
                             command.model_dump_json().encode(), qos=1)

    def ack(self, mid: int) -> None:
        if self._client is not None:
            self._client.ack(mid, 1)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        if reason.is_failure:
            log.warning("control bus: broker refused the connection: %s", reason)
            return
        client.subscribe(result_filter(self.topic_prefix), qos=1)
        self._call(self.connected.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       props: Any) -> None:
        log.warning("control bus: disconnected (%s)", reason)
        self._call(self.connected.clear)

    def _on_message(self, client: mqtt.Client, userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        self._call(self.inbox.put_nowait, (message.mid, bytes(message.payload)))

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)
