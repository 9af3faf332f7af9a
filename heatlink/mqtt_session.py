"""A persistent MQTT 5 session in paho's own thread: the control channel's transport.

Both ends of the command channel (the service's bus and the gateway's subscription) need
the same thing: clean start off with a session expiry, QoS 1, and manual acknowledgement,
so the broker keeps what is published while one side is away and redelivers what was
received but not finished. The channel carries a few messages a minute, so paho runs its
own network thread (``loop_start``) and messages cross into the event loop with
``call_soon_threadsafe``. Needs paho-mqtt, which the gateway and service extras install.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from heatlink.broker_url import parse_broker_url

Inbound = tuple[int, bytes]  # (message id for the acknowledgement, payload)


@dataclass(frozen=True)
class SessionOptions:
    url: str  # mqtt://host:port or mqtts://host:port
    client_id: str  # fixed, so the broker keeps the session while we are away
    subscribe: str  # the topic filter this side reads
    session_expiry_s: int
    name: str  # for log lines: "control", "control bus"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None


class PersistentSession:
    def __init__(self, options: SessionOptions, log: logging.Logger) -> None:
        self.options = options
        self.inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._log = log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._was_up = False
        self._stopping = False  # a disconnect we asked for is no loss

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        opts = self.options
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=opts.client_id,
                             protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        address = parse_broker_url(opts.url)
        if opts.username or address.username:
            client.username_pw_set(opts.username or address.username,
                                   opts.password if opts.username else address.password)
        if address.tls:
            client.tls_set(ca_certs=str(opts.ca_file) if opts.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = opts.session_expiry_s
        client.connect_async(address.host, address.port, clean_start=False, properties=props)
        client.loop_start()
        self._client = client

    async def stop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._stopping = True
            client.disconnect()
            # Joining paho's thread may wait on its socket: never on the event loop.
            await asyncio.to_thread(client.loop_stop)

    def publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        """Queue a message at QoS 1; paho sends it once connected."""
        if self._client is None:
            raise RuntimeError(f"{self.options.name}: the MQTT session is not started")
        return self._client.publish(topic, payload, qos=1)

    def ack(self, mid: int) -> None:
        if self._client is not None:
            self._client.ack(mid, 1)

    # ---- paho callbacks, on paho's thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        if reason.is_failure:
            self._log.warning("%s: broker refused the connection: %s", self.options.name,
                              reason)
            return
        client.subscribe(self.options.subscribe, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      props: Any) -> None:
        # Connected means able to receive: a message sent before the broker took the
        # SUBSCRIBE would not reach a session the broker did not know yet.
        if any(r.is_failure for r in reasons):
            self._log.warning("%s: broker refused the subscription to %s: %s",
                              self.options.name, self.options.subscribe, reasons)
            return
        self._log.info("%s: subscribed to %s", self.options.name, self.options.subscribe)
        self._was_up = True
        self._call(self.connected.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       props: Any) -> None:
        if self._was_up and not self._stopping:  # once per loss, not per failed reconnect
            self._log.warning("%s: disconnected from the broker (%s)", self.options.name,
                              reason)
        self._was_up = False
        self._call(self.connected.clear)

    def _on_message(self, client: mqtt.Client, userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        self._call(self.inbox.put_nowait, (message.mid, bytes(message.payload)))

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)
