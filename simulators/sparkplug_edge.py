"""A simulated Sparkplug B 3.0 edge node with devices, for tests, the demo and benchmarks.

It encodes its payloads through `simulators.sparkplug_schema` (a descriptor written from the
specification's tables, messages made from dicts), never through the gateway's generated
code, so the two sides check each other. paho runs in its own thread (``loop_start``);
what the host asks of the node (rebirths) and says (its STATE) reaches asyncio as events.

The node does what Sparkplug 3.0 asks of an edge node: its will is an NDEATH with a
``bdSeq`` that the next NBIRTH repeats (and that grows with each connection); with a
primary host it waits for that host's online STATE before its births; NBIRTH then DBIRTHs,
then NDATA/DDATA by alias with ``seq`` running 0–255; an NCMD ``Node Control/Rebirth``
makes it publish its births again; a clean stop publishes the NDEATH itself. `die()` is the
unclean end: the broker publishes the will (MQTT 5 "disconnect with will message").
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from heatlink.clock import Clock, SystemClock
from simulators.sparkplug_schema import DATATYPES, decode, encode

log = logging.getLogger(__name__)
NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
_INT32 = {"Int8", "Int16", "Int32", "UInt8", "UInt16", "UInt32"}
_INT64 = {"Int64", "UInt64"}


@dataclass
class EdgeMetric:
    name: str
    alias: int
    value: float = 0.0
    datatype: str = "Double"
    unit: str | None = None  # sent as the birth's "engUnit" property


def metric_value(datatype: str, value: float) -> dict[str, Any]:
    """The value field of a metric: signed integers as two's complement (Sparkplug 6.4.16)."""
    if datatype in _INT32:
        return {"int_value": int(value) & 0xFFFF_FFFF}
    if datatype in _INT64:
        return {"long_value": int(value) & 0xFFFF_FFFF_FFFF_FFFF}
    if datatype == "Float":
        return {"float_value": value}
    if datatype == "Boolean":
        return {"boolean_value": bool(value)}
    return {"double_value": value}


class SparkplugEdgeNode:
    def __init__(self, url: str, group: str, node: str,
                 devices: Mapping[str, Sequence[EdgeMetric]], *,
                 node_metrics: Sequence[EdgeMetric] = (), primary_host: str | None = None,
                 ca_file: Path | None = None, bd_seq: int = 0, clock: Clock | None = None,
                 client_id: str | None = None) -> None:
        self.url = url
        self.group = group
        self.node = node
        self.devices = {name: {m.name: m for m in metrics} for name, metrics in devices.items()}
        self.node_metrics = {m.name: m for m in node_metrics}
        self.primary_host = primary_host
        self.ca_file = ca_file
        self.bd_seq = bd_seq - 1  # the first connection uses bd_seq
        self.clock = clock or SystemClock()
        self.client_id = client_id or f"sim-{group}-{node}"
        self.seq = 0
        self.rebirths_total = 0
        self.born = False
        self._host_ts = -1
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = asyncio.Event()
        self.host_online = asyncio.Event()
        self.rebirth_requested = asyncio.Event()

    def topic(self, kind: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{kind}/{self.node}"
        return base if device is None else f"{base}/{device}"

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # ---- connection ----------------------------------------------------------------------

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect and, once the primary host (if any) is online, publish the births."""
        self._loop = asyncio.get_running_loop()
        parts = urlsplit(self.url)
        tls = parts.scheme in ("mqtts", "ssl")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=MQTTProtocolVersion.MQTTv5)
        if parts.username:
            client.username_pw_set(unquote(parts.username),
                                   unquote(parts.password) if parts.password else None)
        if tls:
            client.tls_set(ca_certs=str(self.ca_file) if self.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self.bd_seq = (self.bd_seq + 1) % 256
        client.will_set(self.topic("NDEATH"), self._death(), qos=1, retain=False)
        self._client = client
        # Sparkplug 3.0: clean start and no session expiry for every client.
        client.connect_async(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883),
                             clean_start=True)
        client.loop_start()
        async with asyncio.timeout(timeout_s):
            await self.connected.wait()
            if self.primary_host is not None:
                await self.host_online.wait()
        if self.primary_host is None:
            self.births()

    def _death(self) -> bytes:
        return encode({"timestamp": self._now_ms(),
                       "metrics": [{"name": "bdSeq", "datatype": DATATYPES["Int64"],
                                    "long_value": self.bd_seq}]})

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("edge node %s: broker refused the connection: %s", self.node, reason)
            return
        subscriptions = [(self.topic("NCMD"), 1),
                         (f"{NAMESPACE}/{self.group}/DCMD/{self.node}/+", 1)]
        if self.primary_host is not None:
            subscriptions.append((f"{NAMESPACE}/STATE/{self.primary_host}", 1))
        client.subscribe(subscriptions)
        self._call(self.connected.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.born = False
        self._call(self.connected.clear)

    def _on_message(self, client: mqtt.Client, userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        if message.topic.startswith(f"{NAMESPACE}/STATE/"):
            self._on_state(bytes(message.payload))
            return
        payload = decode(bytes(message.payload))
        for metric in payload.get("metrics", []):
            if metric.get("name") == REBIRTH and metric.get("boolean_value"):
                self.rebirths_total += 1
                log.info("edge node %s: rebirth requested", self.node)
                self.births()
                self._call(self.rebirth_requested.set)

    def _on_state(self, raw: bytes) -> None:
        try:
            state = json.loads(raw)
            online, ts = bool(state["online"]), int(state["timestamp"])
        except (ValueError, KeyError, TypeError):
            return
        if ts < self._host_ts:
            return  # older than what we know (Sparkplug 5.2)
        self._host_ts = ts
        if online:
            if not self.born:
                self.births()
            self._call(self.host_online.set)
        else:
            # The host went away: stop publishing until it is back (a real node would
            # also store and forward, and disconnect; births follow the next online STATE).
            self.born = False
            self._call(self.host_online.clear)

    def _call(self, fn: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)

    # ---- what the node publishes ---------------------------------------------------------

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    def _publish(self, topic: str, payload: dict[str, Any], qos: int = 0) -> None:
        assert self._client is not None, "start() the edge node first"
        self._client.publish(topic, encode(payload), qos=qos)

    def _birth_metric(self, m: EdgeMetric, ts: int) -> dict[str, Any]:
        metric: dict[str, Any] = {"name": m.name, "alias": m.alias, "timestamp": ts,
                                  "datatype": DATATYPES[m.datatype],
                                  **metric_value(m.datatype, m.value)}
        if m.unit is not None:
            metric["properties"] = {"keys": ["engUnit"],
                                    "values": [{"type": DATATYPES["String"],
                                                "string_value": m.unit}]}
        return metric

    def births(self) -> None:
        """NBIRTH (``seq`` 0, the ``bdSeq`` of this connection), then each DBIRTH."""
        ts = self._now_ms()
        self.seq = 0
        metrics = [{"name": "bdSeq", "timestamp": ts, "datatype": DATATYPES["Int64"],
                    "long_value": self.bd_seq},
                   {"name": REBIRTH, "timestamp": ts, "datatype": DATATYPES["Boolean"],
                    "boolean_value": False}]
        metrics += [self._birth_metric(m, ts) for m in self.node_metrics.values()]
        self._publish(self.topic("NBIRTH"), {"timestamp": ts, "seq": self._next_seq(),
                                             "metrics": metrics})
        for device, device_metrics in self.devices.items():
            self._publish(self.topic("DBIRTH", device), {
                "timestamp": ts, "seq": self._next_seq(),
                "metrics": [self._birth_metric(m, ts) for m in device_metrics.values()]})
        self.born = True

    def data(self, device: str | None, values: Mapping[str, float], *,
             ts: datetime | None = None, historical: bool = False, qos: int = 0) -> int:
        """DDATA (or NDATA for ``device=None``) naming each metric by alias only; returns
        the ``seq`` it used. ``historical`` marks store-and-forward values (``ts`` then is
        their own, past time)."""
        known = self.node_metrics if device is None else self.devices[device]
        at = int(ts.timestamp() * 1000) if ts is not None else self._now_ms()
        metrics = []
        for name, value in values.items():
            m = known[name]
            m.value = value
            metric: dict[str, Any] = {"alias": m.alias, "timestamp": at,
                                      **metric_value(m.datatype, value)}
            if historical:
                metric["is_historical"] = True
            metrics.append(metric)
        seq = self._next_seq()
        kind = "NDATA" if device is None else "DDATA"
        self._publish(self.topic(kind, device), {"timestamp": self._now_ms(), "seq": seq,
                                                 "metrics": metrics}, qos=qos)
        return seq

    def skip_seq(self, count: int = 1) -> None:
        """Lose the next `count` messages on the way (their ``seq`` numbers go unused)."""
        self.seq = (self.seq + count) % 256

    async def stop(self) -> None:
        """A clean end: the node publishes its NDEATH, then disconnects."""
        client = self._client
        if client is None:
            return
        if client.is_connected():
            client.publish(self.topic("NDEATH"), self._death(), qos=1).wait_for_publish(5)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._client = None

    async def die(self) -> None:
        """An unclean end: the broker publishes the will (NDEATH) on the node's behalf."""
        client = self._client
        if client is None:
            return
        client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT,
                                                "Disconnect with will message"))
        await asyncio.to_thread(client.loop_stop)
        self._client = None
