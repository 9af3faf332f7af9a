"""`heatlink gateway discover URL`: browse an OPC UA server, print a starting config.

Every numeric variable under Objects becomes a node entry (Booleans only when asked: the
gateway stores numbers); its series key is guessed from the browse path (or from a string
node id that already looks like a series key). It connects with the same security,
certificate and user settings as the source, and the sampling interval it proposes is the
nodes' own minimum, so no value the server samples is dropped. The operator edits the
result: it is a start, not a decision.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from gateway.config import OpcUaNode, OpcUaSecurity, OpcUaSourceConfig
from gateway.opcua_security import apply_security

NUMERIC_TYPES = {ObjectIds.Double, ObjectIds.Float, ObjectIds.Int16, ObjectIds.Int32,
                 ObjectIds.Int64, ObjectIds.UInt16, ObjectIds.UInt32,
                 ObjectIds.UInt64, ObjectIds.Byte, ObjectIds.SByte}


@dataclass(frozen=True)
class Found:
    node_id: str
    series: str
    min_sampling_ms: float  # the node's MinimumSamplingInterval; 0 or less: not stated


async def browse_variables(client: Client, max_depth: int = 8, max_nodes: int = 5000,
                           include_boolean: bool = False) -> list[Found]:
    """Numeric variables under Objects, depth first."""
    wanted = NUMERIC_TYPES | ({ObjectIds.Boolean} if include_boolean else set())
    found: list[Found] = []
    seen: set[str] = set()

    async def visit(node: Node, path: list[str], depth: int) -> None:
        if depth > max_depth or len(found) >= max_nodes:
            return
        for child in await node.get_children():
            node_id = child.nodeid.to_string()
            if node_id in seen or child.nodeid.NamespaceIndex == 0:
                continue
            seen.add(node_id)
            name = (await child.read_browse_name()).Name
            node_class = await child.read_node_class()
            if node_class == ua.NodeClass.Variable:
                data_type = await child.read_data_type()
                if data_type.NamespaceIndex == 0 and data_type.Identifier in wanted:
                    interval = await child.read_attribute(
                        AttributeIds.MinimumSamplingInterval)
                    raw = interval.Value.Value if interval.Value is not None else None
                    found.append(Found(node_id, series_guess(child.nodeid, [*path, name]),
                                       float(raw) if isinstance(raw, int | float) else 0.0))
            await visit(child, [*path, name], depth + 1)

    await visit(client.nodes.objects, [], 0)
    return found


def series_guess(node_id: ua.NodeId, path: list[str]) -> str:
    if isinstance(node_id.Identifier, str) and "/" in node_id.Identifier:
        return node_id.Identifier
    return "/".join(re.sub(r"[^a-z0-9_]+", "_", part.lower()).strip("_") for part in path)


def sampling_ms(nodes: list[Found]) -> float:
    """The smallest minimum sampling interval the nodes state; 0 (as fast as the server
    samples) when none states one."""
    stated = [n.min_sampling_ms for n in nodes if n.min_sampling_ms > 0]
    return min(stated) if stated else 0.0


def starting_config(endpoint: str, nodes: list[Found], *,
                    security: OpcUaSecurity | None = None,
                    username: str | None = None) -> str:
    sampling = sampling_ms(nodes)
    publishing = 500.0
    # The server queues what it samples between two publishes: room for all of it, twice.
    queue = max(10, math.ceil(publishing / sampling) * 2) if sampling > 0 else 50
    sec = security or OpcUaSecurity()
    source: dict[str, Any] = {
        "kind": "opcua",
        "name": "plant",
        "endpoint": endpoint,
        "security": {k: str(v) for k, v in sec.model_dump(exclude_none=True).items()},
    }
    if username:
        source.update(username=username, password_env="HEATLINK_OPCUA_PASSWORD")
    source.update({
        "publishing_interval_ms": publishing,
        "sampling_interval_ms": sampling,
        "queue_size": queue,
        "nodes": [{"node_id": n.node_id, "series": n.series} for n in nodes],
    })
    config: dict[str, Any] = {
        "sources": [source],
        "buffer": {"path": "gateway-buffer.sqlite3"},
        "uplink": {"url": "https://heatlink.example", "gateway_id": "CHANGE-ME",
                   "token_env": "HEATLINK_GATEWAY_TOKEN",
                   "dead_letter_path": "dead-letters.jsonl"},
    }
    header = (f"# Starting configuration discovered on {endpoint}; review every series key.\n"
              f"# Sampling {sampling:g} ms: the smallest minimum sampling interval the nodes "
              "state (0: as fast as the server samples).\n")
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def connection_settings(endpoint: str, *, security: OpcUaSecurity | None = None,
                        username: str | None = None, password: str | None = None,
                        timeout_s: float = 10.0) -> OpcUaSourceConfig:
    """The settings a source would connect with (its node list is a placeholder: the
    Server object, which every server has)."""
    return OpcUaSourceConfig(kind="opcua", name="discover", endpoint=endpoint,
                             security=security or OpcUaSecurity(), username=username,
                             password=password, request_timeout_s=timeout_s,
                             nodes=[OpcUaNode(node_id="i=2253", series="-")])


async def discover(endpoint: str, *, username: str | None = None, password: str | None = None,
                   security: OpcUaSecurity | None = None, timeout_s: float = 10.0,
                   include_boolean: bool = False) -> str:
    """Raises what connecting raises; `describe_connect_error` puts it in one sentence."""
    settings = connection_settings(endpoint, security=security, username=username,
                                   password=password, timeout_s=timeout_s)
    client = Client(endpoint, timeout=timeout_s)
    await apply_security(client, settings)
    await client.connect()
    try:
        nodes = await browse_variables(client, include_boolean=include_boolean)
    finally:
        await client.disconnect()
    return starting_config(endpoint, nodes, security=settings.security, username=username)
