"""Gateway configurations for the simulated cluster: one gateway per site, as at a plant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, parse_config
from heatlink.cluster.model import Cluster, WritablePoint
from simulators.live import LiveSimulation

# gateway id -> the site whose series it carries (as in the example cluster's gateways)
SITE_GATEWAYS = {"glomfjord-gw1": "glomfjord", "mo-gw1": "mo"}


def edge_limits(point: WritablePoint, cluster: Cluster) -> dict[str, Any]:
    """The bounds the demo's gateway holds a writable node to. At a real plant its owner
    sets them, apart from the service; the demo takes the cluster file's range and limit,
    and allows a quarter of an hour's worth at that limit as the largest single step."""
    rate = point.max_rate_per_h
    rule = next((r for r in cluster.rules if r.id == point.ramp_rule), None)
    for limit in (getattr(rule, "max_rise_per_h", None), getattr(rule, "max_fall_per_h", None)):
        if limit is not None:
            rate = limit if rate is None else min(rate, limit)
    assert rate is not None  # the cluster file requires a limit on every writable point
    return {"node_id": point.node_id, "range": list(point.range), "max_rate_per_h": rate,
            "max_step": rate / 4}


def gateway_config(gateway_id: str, sim: LiveSimulation, series_keys: list[str], *,
                   service_url: str, token: str, mqtt_url: str | None, folder: Path,
                   writable_nodes: list[dict[str, Any]] | None = None,
                   signing_key: Path | None = None,
                   trusted_keys: list[str] | None = None) -> GatewayConfig:
    """Read the site's series where the simulator publishes them, send them to the service."""
    opcua = [k for k in series_keys if sim.transport_of(k) == "opcua"]
    mqtt = [k for k in series_keys if sim.transport_of(k) == "mqtt"]
    sources: list[dict[str, Any]] = []
    if opcua:
        sources.append({
            "kind": "opcua", "name": f"{gateway_id}-opcua", "endpoint": sim.opcua_endpoint,
            "publishing_interval_ms": 200, "sampling_interval_ms": 0, "queue_size": 100,
            "nodes": [{"node_id": sim.opcua_node_id_for(k), "series": k} for k in opcua]})
    if mqtt and mqtt_url:
        sources.append({
            "kind": "mqtt", "name": f"{gateway_id}-mqtt", "url": mqtt_url,
            "client_id": f"heatlink-demo-{gateway_id}",
            "topics": [{"filter": sim.mqtt_topic_for(k), "series": k} for k in mqtt]})
    folder.mkdir(parents=True, exist_ok=True)
    control: dict[str, Any] | None = None
    if writable_nodes and mqtt_url and opcua and signing_key and trusted_keys:
        # Setpoint commands come over the broker; writes go through this site's OPC UA link.
        control = {"mqtt_url": mqtt_url, "client_id": f"heatlink-demo-{gateway_id}-control",
                   "opcua_source": f"{gateway_id}-opcua", "writable_nodes": writable_nodes,
                   "signing_key": str(signing_key), "trusted_keys": trusted_keys}
    return parse_config({
        "sources": sources,
        "buffer": {"path": str(folder / f"{gateway_id}.sqlite3"), "synchronous": "normal"},
        "uplink": {"url": service_url, "gateway_id": gateway_id, "token": token,
                   "batch_max_readings": 5000, "retry": {"initial_s": 0.5, "max_s": 10},
                   "dead_letter_path": str(folder / f"{gateway_id}-dead-letters.jsonl")},
        "http": {"host": "127.0.0.1", "port": 0},
        "control": control,
    }, origin=f"demo gateway {gateway_id}")
