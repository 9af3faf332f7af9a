"""`heatlink gateway discover URL`: browse an OPC UA server, print a starting config.

Every numeric variable under Objects becomes a node entry; its series key is guessed from
the browse path (or from a string node id that already looks like a series key). The
operator edits the result, it is a start, not a decision.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.object_ids import ObjectIds

NUMERIC_TYPES = {ObjectIds.Double, ObjectIds.Float, ObjectIds.Int16, ObjectIds.Int32,
                 ObjectIds.Int64, ObjectIds.UInt16, ObjectIds.UInt32,
                 ObjectIds.UInt64, ObjectIds.Byte, ObjectIds.SByte,
                 ObjectIds.Boolean}


async def browse_variables(client: Client, max_depth: int = 8,
                           max_nodes: int = 5000) -> list[tuple[str, str]]:
    """(node id, series key guess) of numeric variables under Objects, depth first."""
    found: list[tuple[str, str]] = []
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
                if data_type.NamespaceIndex == 0 and data_type.Identifier in NUMERIC_TYPES:
                    found.append((node_id, series_guess(child.nodeid, [*path, name])))
            await visit(child, [*path, name], depth + 1)

    await visit(client.nodes.objects, [], 0)
    return found


def series_guess(node_id: ua.NodeId, path: list[str]) -> str:
    if isinstance(node_id.Identifier, str) and "/" in node_id.Identifier:
        return node_id.Identifier
    return "/".join(re.sub(r"[^a-z0-9_]+", "_", part.lower()).strip("_") for part in path)


def starting_config(endpoint: str, nodes: list[tuple[str, str]]) -> str:
    config: dict[str, Any] = {
        "sources": [{
            "kind": "opcua",
            "name": "plant",
            "endpoint": endpoint,
            "security": {"policy": "None", "mode": "None"},
            "publishing_interval_ms": 500,
            "sampling_interval_ms": 500,
            "queue_size": 10,
            "nodes": [{"node_id": n, "series": s} for n, s in nodes],
        }],
        "buffer": {"path": "gateway-buffer.sqlite3"},
        "uplink": {"url": "https://heatlink.example", "gateway_id": "CHANGE-ME",
                   "token_env": "HEATLINK_GATEWAY_TOKEN",
                   "dead_letter_path": "dead-letters.jsonl"},
    }
    header = f"# Starting configuration discovered on {endpoint}; review every series key.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


async def discover(endpoint: str, *, username: str | None = None, password: str | None = None,
                   timeout_s: float = 10.0) -> str:
    client = Client(endpoint, timeout=timeout_s)
    if username:
        client.set_user(username)
        if password:
            client.set_password(password)
    await client.connect()
    try:
        nodes = await browse_variables(client)
    finally:
        await client.disconnect()
    return starting_config(endpoint, nodes)
