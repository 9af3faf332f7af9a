"""Request bodies of the alert API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from heatlink.inputs import Finite, FreeText, Moment, Name


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShelveBody(_Body):
    duration_s: Finite = Field(3600.0, gt=0, le=7 * 86400,
                               description="Shelved for this long, at most a week")
    reason: FreeText = ""


class ServiceBody(_Body):
    reason: FreeText = ""


class MaintenanceBody(_Body):
    exchange: Name = Field(examples=["glomfjord-smolt"])
    starts_at: Moment = Field(examples=["2026-06-01T06:00:00Z"])
    ends_at: Moment = Field(examples=["2026-06-01T18:00:00Z"])
    reason: FreeText = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        if not 2000 <= value.year <= 2999:
            raise ValueError("must be a time between the years 2000 and 2999")
        return value
