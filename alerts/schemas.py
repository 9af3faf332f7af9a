"""Request bodies of the alert API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# PostgreSQL text cannot hold NUL; refuse it with 422 rather than fail at the database.
Text = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]


class ShelveBody(_Body):
    duration_s: float = Field(3600.0, gt=0, le=7 * 86400,
                              description="Shelved for this long, at most a week")
    reason: Text = ""


class ServiceBody(_Body):
    reason: Text = ""


class MaintenanceBody(_Body):
    exchange: Text
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: Text = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        if not 2000 <= value.year <= 2999:
            raise ValueError("must be a time between the years 2000 and 2999")
        return value


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
