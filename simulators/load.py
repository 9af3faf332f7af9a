"""Load generation for benchmarks: many OPC UA variables, many MQTT messages per second.

    async with OpcUaLoad(5000, port=p) as load:      # a server with 5,000 Double variables
        report = await load.run(duration_s=30)       # every variable changes every second
    report = await mqtt_load(url, rate_per_s=20_000, duration_s=10)

Both report what one process actually reached (rounds that overran their interval show
in ``max_round_s``; a publisher that fell behind shows in ``achieved_per_s``).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from asyncua import ua as _ua
from asyncua.server.server import Server

from simulators.mqtt_fast import FastMqttPublisher
from simulators.mqtt_publisher import DEFAULT_TOPIC_PREFIX, encode_payload

ua: Any = _ua  # see opcua_server.py: asyncua's ua package is not re-export clean for mypy


@dataclass(frozen=True)
class LoadReport:
    kind: str  # "opcua" | "mqtt"
    target_per_s: float
    duration_s: float
    sent: int  # values written (OPC UA) or messages published (MQTT)
    acked: int  # MQTT: acknowledged by the broker (QoS 1); OPC UA: same as sent
    achieved_per_s: float
    rounds: int
    mean_round_s: float
    max_round_s: float
    cpu_s: float

    def summary(self) -> str:
        return (f"{self.kind}: target {self.target_per_s:,.0f}/s, achieved "
                f"{self.achieved_per_s:,.0f}/s ({self.acked:,} of {self.sent:,} confirmed) over "
                f"{self.duration_s:.1f} s; rounds {self.rounds}, mean {self.mean_round_s * 1e3:.1f}"
                f" ms, max {self.max_round_s * 1e3:.1f} ms; CPU {self.cpu_s:.1f} s")


class OpcUaLoad:
    """An OPC UA server with ``n_variables`` Doubles ``ns=2;s=load/NNNNN``."""

    def __init__(self, n_variables: int = 5000, *, port: int, host: str = "127.0.0.1") -> None:
        self.n_variables = n_variables
        self.endpoint = f"opc.tcp://{host}:{port}/heatlink/load/"
        self.node_ids = [f"ns=2;s=load/{i:05d}" for i in range(n_variables)]
        self._server: Server | None = None
        self._nodes: list[Any] = []

    async def __aenter__(self) -> OpcUaLoad:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace("urn:heatlink:load")
        root = await server.get_objects_node().add_folder(f"ns={ns};s=load", f"{ns}:load")
        # Folders of 100: asyncua checks a parent's references linearly on every add, so
        # 5,000 children of one folder take minutes. One AddNodes call per folder.
        items = []
        for first in range(0, self.n_variables, 100):
            group = f"ns={ns};s=load/group{first // 100:03d}"
            folder = await root.add_folder(group, f"{ns}:group{first // 100:03d}")
            items += [self._variable_item(folder.nodeid, node_id, ns)
                      for node_id in self.node_ids[first:first + 100]]
        for result in await server.iserver.isession.add_nodes(items):
            result.StatusCode.check()
            self._nodes.append(result.AddedNodeId)
        await server.start()
        self._server = server
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._server is not None:
            await self._server.stop()

    @staticmethod
    def _variable_item(parent: Any, node_id: str, ns: int) -> Any:
        name = node_id.rsplit("/", 1)[1]
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = ua.NodeId.from_string(node_id)
        item.BrowseName = ua.QualifiedName(name, ns)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = parent
        item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
        item.TypeDefinition = ua.NodeId(ua.ObjectIds.BaseDataVariableType)
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(name)
        attrs.DataType = ua.NodeId(ua.ObjectIds.Double)
        attrs.Value = ua.Variant(0.0, ua.VariantType.Double)
        attrs.ValueRank = ua.ValueRank.Scalar
        attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
        attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
        item.NodeAttributes = attrs
        return item

    async def run(self, duration_s: float, interval_s: float = 1.0) -> LoadReport:
        """Write every variable once per ``interval_s`` for ``duration_s``."""
        assert self._server is not None
        loop = asyncio.get_running_loop()
        cpu0, t0 = time.process_time(), loop.time()
        rounds: list[float] = []
        sent = 0
        while loop.time() - t0 < duration_s:
            began = loop.time()
            ts = datetime.now(UTC)
            k = len(rounds)
            for i, node in enumerate(self._nodes):
                value = 50.0 + 10.0 * math.sin(0.1 * k + i)
                await self._server.write_attribute_value(node, ua.DataValue(
                    ua.Variant(value, ua.VariantType.Double), SourceTimestamp=ts,
                    ServerTimestamp=ts))
            sent += len(self._nodes)
            rounds.append(loop.time() - began)
            await asyncio.sleep(max(0.0, began + interval_s - loop.time()))
        elapsed = loop.time() - t0
        return LoadReport("opcua", len(self._nodes) / interval_s, elapsed, sent, sent,
                          sent / elapsed, len(rounds), sum(rounds) / len(rounds), max(rounds),
                          time.process_time() - cpu0)


async def opcua_load(n_variables: int = 5000, *, port: int, duration_s: float = 10.0,
                     interval_s: float = 1.0) -> LoadReport:
    async with OpcUaLoad(n_variables, port=port) as load:
        return await load.run(duration_s, interval_s)


async def mqtt_load(url: str, rate_per_s: float = 20_000, *, duration_s: float = 10.0,
                    n_series: int = 1000, qos: int = 1, tick_s: float = 0.01,
                    topic_prefix: str = DEFAULT_TOPIC_PREFIX, max_unacked: int = 50_000,
                    ca_file: str | None = None) -> LoadReport:
    """Publish ``rate_per_s`` simulator-format messages over ``n_series`` topics."""
    topics = [f"{topic_prefix}/load/s{i:05d}".encode() for i in range(n_series)]
    publisher = FastMqttPublisher(url, qos=qos, ca_file=ca_file)
    await publisher.connect()
    loop = asyncio.get_running_loop()
    cpu0, t0 = time.process_time(), loop.time()
    due = 0.0
    rounds: list[float] = []
    try:
        while (now := loop.time()) - t0 < duration_s:
            due = rate_per_s * (now - t0)
            batch_n = int(due) - publisher.sent
            if batch_n > 0 and publisher.sent - publisher.acked < max_unacked:
                began = loop.time()
                ts = datetime.now(UTC)
                payload = encode_payload(ts, 12.345, "good")
                start = publisher.sent
                publisher.publish_many([(topics[(start + j) % n_series], payload)
                                        for j in range(batch_n)])
                await publisher.drain()
                rounds.append(loop.time() - began)
            await asyncio.sleep(tick_s)
        await publisher.wait_acked(timeout_s=30.0)
    finally:
        elapsed = loop.time() - t0
        await publisher.close()
    return LoadReport("mqtt", rate_per_s, elapsed, publisher.sent, publisher.acked,
                      publisher.acked / elapsed, len(rounds),
                      sum(rounds) / max(len(rounds), 1), max(rounds, default=0.0),
                      time.process_time() - cpu0)
