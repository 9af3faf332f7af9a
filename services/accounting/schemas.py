"""Request and response bodies of the accounting API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from heatlink.cluster.metering import SubstitutionRule
from heatlink.inputs import FreeText, Moment, Name


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RevisionIn(_In):
    reason: FreeText = Field(min_length=3, max_length=2000,
                        examples=["HM-1 found 4 % low at its sample check; figures corrected"])


class CommentIn(_In):
    hour: Moment = Field(description="Start of the disputed hour, with offset")
    resource: Name = Field("heat", examples=["heat"])
    text: FreeText = Field(min_length=1, max_length=2000)


class RuleIn(_In):
    rule: SubstitutionRule
    reason: FreeText = Field("", max_length=2000)


class OutcomeOut(BaseModel):
    detail: dict[str, Any]


class EnergyOut(BaseModel):
    exchange: str
    start: datetime
    end: datetime
    step: str = "1h"
    hours: list[dict[str, Any]] = Field(description="Per hour: availability, then per "
                                        "resource the settled figure, its uncertainty, the "
                                        "verdict of the two meters, any substitution and "
                                        "each meter's own figure, error and flags")


class RevisionOut(BaseModel):
    revision: int
    status: str
    content_sha256: str | None = None
    closed_at: datetime | None = None
    closed_by: list[str] = Field(default_factory=list)
    reason: str | None = None
    close_requested_by: list[str] = Field(default_factory=list)


class MonthToDateOut(BaseModel):
    exchange: str
    month: str
    hours: int
    resources: list[dict[str, Any]]
    availability_share: float | None


class AuditOut(BaseModel):
    at: datetime
    org: str
    actor: str
    action: str
    detail: dict[str, Any]
