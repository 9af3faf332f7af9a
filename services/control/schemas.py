"""Request and response bodies of the control API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from heatlink.inputs import Finite, FreeText, Name


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


DB_ID = {"ge": 1, "le": 2**63 - 1}


class RampRequest(_In):
    """A ramp starts from where the plant stands (the point's last readback, else its latest
    good reading), never from a value the caller gives."""

    point: Name = Field(description="a writable point's key (GET /v1/control/points)",
                        examples=["glomfjord/smoltfarm/tank1/temp_setpoint"])
    target: Finite = Field(examples=[12.0], description="inside the point's range")
    # Not part of the API: named only so that a client still sending it learns why it is
    # refused, instead of reading a bare "extra inputs are not permitted".
    current_value: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("current_value", mode="before")
    @classmethod
    def _no_start_from_the_caller(cls, value: Any) -> None:
        raise ValueError("not accepted: a ramp starts from the point's last readback or its "
                         "latest good reading, never from a value the caller gives")


class ProtectiveRequestIn(_In):
    exchange: Name = Field(examples=["glomfjord-smolt"])
    action: FreeText = Field(min_length=1,
                             description="e.g. 'ramp the supply down at 0.5 K/h during "
                             "Saturday's planned stop'")
    reason: FreeText = ""


class AnswerIn(_In):
    note: FreeText = ""


class PointOut(BaseModel):
    key: str
    asset: str
    owner: str
    gateway: str
    unit: str
    range: tuple[float, float]
    max_rise_per_h: float | None
    max_fall_per_h: float | None
    may_request: bool


class RampOut(BaseModel):
    id: int
    point: str
    owner: str
    requested_by: str
    start_value: float | None
    target: float
    rate_per_h: float
    status: str
    reasons: list[str]
    confirmed_value: float | None
    step: int
    steps: int
    requested_at: str
    updated_at: str
    commands: list[dict[str, Any]] = Field(default_factory=list)


class AuditOut(BaseModel):
    id: int
    at: str
    kind: str
    actor: str
    point: str | None
    ramp_id: int | None
    request_id: int | None
    command_id: str | None
    detail: dict[str, Any]
