"""What a host application publishes: its STATE (JSON) and rebirth requests (protobuf)."""

from __future__ import annotations

import json

from gateway.sparkplug import sparkplug_b_pb2 as pb

REBIRTH_METRIC = "Node Control/Rebirth"


def state_payload(online: bool, timestamp_ms: int) -> bytes:
    """``{"online": .., "timestamp": ..}``: the birth's timestamp is the one of the will
    registered with the same connection, so an edge node can tell them apart in order."""
    return json.dumps({"online": online, "timestamp": timestamp_ms}).encode()


def parse_state(payload: bytes | bytearray) -> tuple[bool, int] | None:
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    online, timestamp = doc.get("online"), doc.get("timestamp")
    if not isinstance(online, bool) or isinstance(timestamp, bool) or \
            not isinstance(timestamp, int):
        return None
    return online, timestamp


def rebirth_request(timestamp_ms: int) -> bytes:
    """NCMD asking an edge node to publish its NBIRTH and every DBIRTH again."""
    payload = pb.Payload(timestamp=timestamp_ms)
    metric = payload.metrics.add()
    metric.name = REBIRTH_METRIC
    metric.timestamp = timestamp_ms
    metric.datatype = pb.Boolean
    metric.boolean_value = True
    return payload.SerializeToString()
