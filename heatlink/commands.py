"""Setpoint commands from the service to a plant's gateway, and the gateway's answers.

Shared by both sides (the gateway installs with only its extra, so this module needs
nothing but pydantic). Commands travel over MQTT because plants accept no inbound
connections: the gateway keeps a persistent session on its command topic at QoS 1 and
answers on its result topic.

A command carries an absolute value, never an increment, so a redelivery cannot add a
step twice; and an ``expires_at`` that the gateway checks against its own clock before it
writes, so a command that waited in the broker while the gateway was away is answered
``expired`` and never applied late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DEFAULT_TOPIC_PREFIX = "heatlink/control"

# applied: written and read back within tolerance; mismatch: written, but the readback
# differs; refused: the server answered the write with a bad status (local control, access
# denied, out of range); expired: not written because it arrived after expires_at;
# rejected: not written because the gateway's config does not allow the node;
# error: the server could not be reached or answered nothing usable.
ResultStatus = Literal["applied", "mismatch", "refused", "expired", "rejected", "error"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetpointCommand(_Message):
    id: str = Field(description="unique per attempt; the gateway answers each id once")
    ramp_id: int
    point: str = Field(description="writable point key from the cluster file")
    node_id: str = Field(description="OPC UA node to write, e.g. ns=2;s=…/temp_setpoint")
    value: float
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    tolerance: float = Field(ge=0, description="readback within this of value is a match")


class CommandResult(_Message):
    command_id: str
    ramp_id: int
    point: str
    status: ResultStatus
    value: float = Field(description="the value the command asked for")
    readback: float | None = None
    at: AwareDatetime = Field(description="the gateway's clock when it decided")
    detail: str = ""


def command_topic(gateway_id: str, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    return f"{prefix}/{gateway_id}/commands"


def result_topic(gateway_id: str, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    return f"{prefix}/{gateway_id}/results"


def result_filter(prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    """What the service subscribes to: every gateway's results."""
    return f"{prefix}/+/results"


def is_due(command: SetpointCommand, now: datetime) -> bool:
    """Whether a command may still be applied at ``now``."""
    return now < command.expires_at
