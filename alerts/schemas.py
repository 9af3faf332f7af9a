"""Request bodies of the alert API."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShelveBody(_Body):
    duration_s: float = Field(3600.0, gt=0, le=7 * 86400,
                              description="Shelved for this long, at most a week")
    reason: str = ""


class ServiceBody(_Body):
    reason: str = ""


class MaintenanceBody(_Body):
    exchange: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = ""


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
