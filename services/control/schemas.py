"""Request and response bodies of the control API."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# PostgreSQL text cannot hold NUL; refused at the door rather than as a database error.
TEXT = r"^[^\x00]*$"
DB_ID = {"ge": 1, "le": 2**63 - 1}


class RampRequest(_In):
    """A ramp starts from where the plant stands (the point's last readback, else its latest
    good reading), never from a value the caller gives."""

    point: str = Field(description="a writable point's key (GET /v1/control/points)")
    target: float = Field(allow_inf_nan=False, description="inside the point's range")
    # Not part of the API: named only so that a client still sending it learns why it is
    # refused, instead of reading a bare "extra inputs are not permitted".
    current_value: SkipJsonSchema[Any] = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _non_finite_as_text(cls, data: Any) -> Any:
        # JSON has no NaN: the 422 that echoes a NaN or infinite target must hold it as text.
        if isinstance(data, dict):
            return {k: str(v) if isinstance(v, float) and not math.isfinite(v) else v
                    for k, v in data.items()}
        return data

    @field_validator("current_value", mode="before")
    @classmethod
    def _no_start_from_the_caller(cls, value: Any) -> None:
        raise ValueError("not accepted: a ramp starts from the point's last readback or its "
                         "latest good reading, never from a value the caller gives")


class ProtectiveRequestIn(_In):
    exchange: str
    action: str = Field(min_length=1, max_length=2000, pattern=TEXT,
                        description="e.g. 'ramp the supply down at 0.5 K/h during "
                        "Saturday's planned stop'")
    reason: str = Field("", max_length=2000, pattern=TEXT)


class AnswerIn(_In):
    note: str = Field("", max_length=2000, pattern=TEXT)


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
