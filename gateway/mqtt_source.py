"""`MqttSource`: an MQTT 5 persistent session at QoS 1 with acknowledgement after buffering.

The broker keeps every message we have not acknowledged (clean start off, session expiry),
and paho acknowledges only when told to (`manual_ack=True`): the runner calls an arrival's
`ack` after the buffer has the readings, so a crash or a broker restart loses nothing that
was acknowledged. Messages the broker resends after a reconnect are stored again; the
service's idempotency by (series, source timestamp) makes that harmless.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import threading
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.config import MqttSourceConfig
from gateway.mqtt_payload import BadPayload, TopicMap, parse_payload
from gateway.protocols import Arrival
from gateway.stats import SourceStats
from heatlink.clock import Clock
from heatlink.wire import Reading

log = logging.getLogger("gateway.mqtt")

# (connection generation, message id, qos, reading or None when skipped)
Inbound = tuple[int, int, int, Reading | None]


class MqttSource:
    kind = "mqtt"

    def __init__(self, config: MqttSourceConfig, clock: Clock) -> None:
        self.config = config
        self.name = config.name
        self.stats = SourceStats(config.name, self.kind)
        self._clock = clock
        self._topics = TopicMap(config.topics)
        self._lock = threading.Lock()
        self._inbox: list[Inbound] = []
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Message ids are per connection: an ack for a message of an earlier connection
        # must not be sent on the new one (it could acknowledge another message).
        self._generation = 0
        self._client: mqtt.Client | None = None
        self._session_present = False

    @property
    def up(self) -> bool:
        return self.stats.up

    # ---- paho's network thread -----------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any,
                    reason_code: Any, _properties: Any) -> None:
        if reason_code.is_failure:
            self.stats.went_down(f"broker refused the connection: {reason_code}")
            return
        with self._lock:
            self._generation += 1
        # Subscribing again is harmless when the broker kept our session, and needed when
        # it did not (session expired, broker lost its persistence).
        client.subscribe([(t.filter, SubscribeOptions(qos=1)) for t in self.config.topics])
        self._session_present = bool(getattr(flags, "session_present", False))

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int,
                      reason_codes: list[Any], _properties: Any) -> None:
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            self.stats.went_down(f"broker refused the subscription: {', '.join(refused)}")
            return
        session = "resumed" if self._session_present else "new"
        self.stats.went_up(f"subscribed to {len(reason_codes)} filter(s), session {session}")

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason_code: Any, _properties: Any) -> None:
        self.stats.reconnects_total += 1
        self.stats.went_down(f"disconnected: {reason_code}")

    def _on_message(self, _client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        found = self._topics.lookup(topic)
        reading: Reading | None = None
        if found is None:
            self.stats.bad_payload("unmapped_topic", topic)
        else:
            series, fmt = found
            parsed = parse_payload(series, bytes(message.payload), fmt, self._clock.now())
            if isinstance(parsed, BadPayload):
                self.stats.bad_payload(parsed.kind, f"{topic}: {parsed.sample}")
            else:
                reading = parsed
        with self._lock:
            was_empty = not self._inbox
            self._inbox.append((self._generation, message.mid, message.qos, reading))
        if was_empty and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # ---- the event loop ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                             protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.resolved_password())
        if cfg.url.startswith("mqtts://"):
            client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=max(1, int(cfg.reconnect.initial_s)),
                                   max_delay=max(1, int(cfg.reconnect.max_s)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    async def stream(self) -> AsyncIterator[Arrival]:
        self._loop = asyncio.get_running_loop()
        parts = urlsplit(self.config.url)
        default_port = 8883 if parts.scheme == "mqtts" else 1883
        client = self._make_client()
        self._client = client
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        client.connect_async(parts.hostname or "localhost", parts.port or default_port,
                             keepalive=self.config.keepalive_s, clean_start=False,
                             properties=props)
        # paho's own thread reads the socket and reconnects with its backoff.
        client.loop_start()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                with self._lock:
                    inbound, self._inbox = self._inbox, []
                if not inbound:
                    continue
                readings = [r for _, _, _, r in inbound if r is not None]
                self.stats.readings_total += len(readings)
                yield Arrival(readings, ack=functools.partial(self._ack, inbound))
        finally:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            self._client = None

    def _ack(self, inbound: list[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        with self._lock:
            current = self._generation
        for generation, mid, qos, _ in inbound:
            if qos > 0 and generation == current:
                client.ack(mid, qos)
