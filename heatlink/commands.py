"""Setpoint commands from the service to a plant's gateway, and the gateway's answers.

Shared by both sides (the gateway installs with only its extra, so this module needs
nothing but pydantic). Commands travel over MQTT because plants accept no inbound
connections: the gateway keeps a persistent session on its command topic at QoS 1 and
answers on its result topic.

A command carries an absolute value, never an increment, so a redelivery cannot add a
step twice; and an ``expires_at`` that the gateway checks against its own clock before it
writes, so a command that waited in the broker while the gateway was away is answered
``expired`` and never applied late.

Neither end trusts the broker: the service signs every command with its key and numbers it
(``seq``, rising), the gateway writes only what a trusted key signed for it with a number
it has not seen, and signs its answers with its own key (`heatlink.signing`). Both ends
import this module, so both read the same schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from heatlink.signing import COMMAND_CONTEXT, RESULT_CONTEXT, SigningKey, TrustedKeys

DEFAULT_TOPIC_PREFIX = "heatlink/control"

# applied: written and read back within tolerance; mismatch: written, but the readback
# differs; refused: the server answered the write with a bad status (local control, access
# denied, out of range); expired: not written because it arrived after expires_at;
# rejected: not written because the gateway's own rules refuse it (a node its config does
# not allow, a value outside the node's range, rate or step, not finite, a replayed number);
# error: the server could not be reached or answered nothing usable.
ResultStatus = Literal["applied", "mismatch", "refused", "expired", "rejected", "error"]


class _Message(BaseModel):
    # NaN travels as NaN (not null), so a gateway sees a non-finite value for what it is and
    # refuses it by name instead of dropping the command as unreadable.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")


class SetpointCommand(_Message):
    id: str = Field(description="unique per attempt; the gateway answers each id once")
    gateway: str = Field(description="the gateway meant to write it; any other refuses it")
    seq: int = Field(0, ge=0, description="rises with every command the service signs; a "
                     "gateway refuses one not above the last it took (0: not numbered yet)")
    ramp_id: int
    step: int = Field(ge=1, description="the step of the ramp's current plan")
    point: str = Field(description="writable point key from the cluster file")
    node_id: str = Field(description="OPC UA node to write, e.g. ns=2;s=…/temp_setpoint")
    value: float = Field(description="absolute; the gateway refuses a non-finite one")
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    tolerance: float = Field(ge=0, description="readback within this of value is a match")


class CommandResult(_Message):
    command_id: str
    gateway: str = Field(description="who answers; must own the key that signed this")
    ramp_id: int
    point: str
    status: ResultStatus
    value: float | None = Field(allow_inf_nan=False, description="the value the command "
                                "asked for (None when it was not a finite number)")
    readback: float | None = Field(None, allow_inf_nan=False)
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


def sign_command(command: SetpointCommand, key: SigningKey) -> bytes:
    return key.sign(COMMAND_CONTEXT, command.model_dump_json().encode())


def open_command(payload: bytes, trusted: TrustedKeys) -> SetpointCommand:
    """The command a trusted key signed; `heatlink.signing.SignatureError` or pydantic's
    `ValidationError` otherwise."""
    _, body = trusted.open(COMMAND_CONTEXT, payload)
    return SetpointCommand.model_validate_json(body)


def sign_result(result: CommandResult, key: SigningKey) -> bytes:
    return key.sign(RESULT_CONTEXT, result.model_dump_json().encode())


def open_result(payload: bytes, trusted: TrustedKeys) -> tuple[str, CommandResult]:
    """(the gateway whose key signed it, the result); raises as `open_command` does."""
    owner, body = trusted.open(RESULT_CONTEXT, payload)
    return owner, CommandResult.model_validate_json(body)
