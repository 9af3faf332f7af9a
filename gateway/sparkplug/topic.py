"""What a Sparkplug topic names: ``spBv1.0/<group>/<type>/<node>[/<device>]`` or the
primary host's ``spBv1.0/STATE/<host_id>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

NAMESPACE = "spBv1.0"


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"


@dataclass(frozen=True, slots=True)
class EdgeTopic:
    group: str
    type: MessageType
    node: str
    device: str | None


@dataclass(frozen=True, slots=True)
class StateTopic:
    host_id: str


@lru_cache(maxsize=4096)  # a group's few topics come again with every message
def parse_topic(topic: str) -> EdgeTopic | StateTopic | None:
    """None for a topic outside the namespace or of a shape Sparkplug does not define."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != NAMESPACE:
        return None
    if parts[1] == "STATE":
        return StateTopic(parts[2]) if len(parts) == 3 else None
    if len(parts) not in (4, 5):
        return None
    try:
        kind = MessageType(parts[2])
    except ValueError:
        return None
    device = parts[4] if len(parts) == 5 else None
    if (device is None) != kind.startswith("N"):
        return None  # a node message with a device, or a device message without one
    return EdgeTopic(parts[1], kind, parts[3], device)


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"


def ncmd_topic(group: str, node: str) -> str:
    return f"{NAMESPACE}/{group}/NCMD/{node}"
