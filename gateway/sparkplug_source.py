"""`SparkplugSource`: a Sparkplug B 3.0 group on an MQTT broker, this gateway its host.

The connection is the MQTT source's (`MqttClientSource`): paho on the event loop, a
persistent session at QoS 1 and acknowledgement after buffering, so a DDATA published at
QoS 1 is acknowledged only once its readings are in the buffer. Sparkplug 3.0 asks host
applications for a clean session; the gateway keeps its session, so that what the broker
queued while it restarted is not lost (births are asked for again either way).

As primary host application (`host_id`) it registers an offline STATE as its will and
publishes the online STATE, retained, with the will's timestamp once subscribed; a clean
stop replaces it with an offline STATE before disconnecting. A STATE saying it is offline
while it is not (an old will) is answered with its online STATE at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import paho.mqtt.client as mqtt

from gateway.config import SparkplugSourceConfig
from gateway.mqtt_source import MqttClientSource
from gateway.protocols import Arrival
from gateway.sparkplug.host import Outcome, SparkplugHost
from gateway.sparkplug.messages import parse_state, rebirth_request, state_payload
from gateway.sparkplug.topic import NAMESPACE, EdgeTopic, StateTopic, ncmd_topic, parse_topic
from gateway.sparkplug.topic import state_topic as make_state_topic
from heatlink.clock import Clock

log = logging.getLogger("gateway.sparkplug")
MAX_TOPICS = 10_000  # parsed topics kept: a group's nodes and devices, five kinds each


class SparkplugSource(MqttClientSource):
    kind = "sparkplug"
    config: SparkplugSourceConfig

    def __init__(self, config: SparkplugSourceConfig, clock: Clock,
                 rng: random.Random | None = None) -> None:
        super().__init__(config, config.name, config.session_client_id, clock, rng)
        self.host = SparkplugHost(config.group_id, config.metrics, clock,
                                  reorder_timeout_s=config.reorder_timeout_s,
                                  rebirth=config.rebirth)
        self._state_topic = make_state_topic(config.host_id) if config.host_id else None
        self._state_ts_ms = 0
        self._topics: dict[bytes, EdgeTopic | StateTopic | None] = {}  # raw topic -> parsed

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    # ---- the connection's edges ------------------------------------------------------------

    def _subscriptions(self) -> list[str]:
        subscriptions = [f"{NAMESPACE}/{self.config.group_id}/#"]
        if self._state_topic is not None:
            subscriptions.append(self._state_topic)
        return subscriptions

    def _prepare(self, client: mqtt.Client) -> None:
        if self._state_topic is not None:
            self._state_ts_ms = self._now_ms()
            client.will_set(self._state_topic, state_payload(False, self._state_ts_ms),
                            qos=1, retain=True)

    def _on_subscribed(self, client: mqtt.Client) -> None:
        self._publish_online(client)
        for node in self.host.reconnected():
            self._ask_rebirth(client, node)

    def _publish_online(self, client: mqtt.Client) -> None:
        if self._state_topic is not None:
            client.publish(self._state_topic, state_payload(True, self._state_ts_ms), qos=1,
                           retain=True)

    def _before_disconnect(self, client: mqtt.Client) -> None:
        if self._state_topic is not None:
            client.publish(self._state_topic, state_payload(False, self._now_ms()), qos=1,
                           retain=True)

    def _on_lost(self) -> None:
        # Everything known through this broker is stale until born again (Sparkplug 5.3).
        readings = self.host.lost_broker()
        if readings:
            self.stats.events["broker_lost_stale"] += len(readings)
        self._add_readings(readings)

    # ---- messages --------------------------------------------------------------------------

    def _on_message(self, client: mqtt.Client, _userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        # A group's topics are few and come again with every message: each is parsed once.
        # The first ones seen are kept, so that a flood of made-up topics cannot grow it.
        topic = self._topics.get(message._topic)
        if topic is None:
            topic = parse_topic(message.topic)
            if len(self._topics) < MAX_TOPICS:
                self._topics[message._topic] = topic
        if isinstance(topic, EdgeTopic):
            self._take(client, self.host.handle(topic, message.payload, self._inbox))
        elif isinstance(topic, StateTopic):
            state = parse_state(message.payload)
            if (topic.host_id == self.config.host_id and state is not None and not state[0]
                    and self.stats.up):
                self._publish_online(client)  # an old will must not leave us "offline"
        else:
            self.stats.bad_payload("not_sparkplug_topic", message.topic)
        self._arrived(message)

    def _take(self, client: mqtt.Client, outcome: Outcome) -> None:
        for kind, sample in outcome.problems:  # (its readings are in `_inbox` already)
            self.stats.bad_payload(kind, sample)
        for node in outcome.rebirth:
            self._ask_rebirth(client, node)

    def _ask_rebirth(self, client: mqtt.Client, node: str) -> None:
        client.publish(ncmd_topic(self.config.group_id, node), rebirth_request(self._now_ms()),
                       qos=0)
        self.stats.events["rebirth_requested"] += 1

    # ---- the reorder timer -----------------------------------------------------------------

    async def stream(self) -> AsyncIterator[Arrival]:
        log.info("sparkplug %s: data messages decoded %s", self.name,
                 "by protobuf-c (compiled)" if self.host.compiled else
                 "by protobuf alone (gateway.sparkplug._plain_data is not built: see "
                 "setup.py)")
        ticker = asyncio.create_task(self._tick(), name=f"sparkplug {self.name} reorder")
        inner = cast(AsyncGenerator[Arrival, None], super().stream())
        try:
            async for arrival in inner:
                yield arrival
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await inner.aclose()

    async def _tick(self) -> None:
        period_s = min(1.0, self.config.reorder_timeout_s / 4)
        while True:
            await asyncio.sleep(period_s)
            client = self._client
            if client is None or not client.is_connected():
                continue
            for node in self.host.due():
                self._ask_rebirth(client, node)
