"""Request and response bodies of the monitor's API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from heatlink.findings import Finding
from heatlink.inputs import FreeText, JsonObject
from services.monitor.group import VersionedRule
from services.monitor.store import RuleVersionRow, spec_json


class RuleOut(BaseModel):
    id: str
    kind: str
    owner: str
    series: str
    severity: str
    version: int = Field(description="The version running now; findings name it")
    spec: dict[str, Any] = Field(description="The whole rule as in the cluster file")

    @classmethod
    def of(cls, rule: VersionedRule) -> RuleOut:
        s = rule.spec
        return cls(id=s.id, kind=s.kind, owner=s.owner, series=s.series, severity=s.severity,
                   version=rule.version, spec=spec_json(s))


class RuleVersionOut(BaseModel):
    version: int
    spec: dict[str, Any]
    previous: dict[str, Any] | None
    changed_by: str = Field(description="Organisation, or 'cluster-file'")
    actor: str | None = Field(description="Who within it: the token's name and id "
                              "(none for the cluster file)", examples=["fjordsmolt:vet (#12)"])
    changed_at: datetime
    reason: str | None

    @classmethod
    def of(cls, row: RuleVersionRow) -> RuleVersionOut:
        return cls(version=row.version, spec=row.spec, previous=row.previous,
                   changed_by=row.changed_by, actor=row.actor, changed_at=row.changed_at,
                   reason=row.reason)


class RuleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: JsonObject = Field(
        description="Fields to change, e.g. {\"high\": 15.0, \"deadband\": 0.3}. id, kind, "
        "owner and the series a rule reads are fixed in the cluster file.",
        examples=[{"high": 15.0}])
    reason: FreeText = Field(min_length=1, max_length=500, description="Why: kept with the new "
                             "version for the audit", examples=["vet: smolt stage from March"])


class FindingOut(BaseModel):
    id: int
    rule_id: str
    rule_version: int
    kind: str
    series: str
    owner: str
    severity: str
    state: str = Field(description="New state: ok, high, low, predicted_high, predicted_low, "
                       "rising, falling, predicted_rising, predicted_falling (a ramp's "
                       "heat balance), disrupted, fouled, suspect, unknown (no data: not "
                       "an outage)")
    previous_state: str
    ts: datetime = Field(description="Plant time of the change")
    since_ts: datetime = Field(description="Plant time the condition began")
    detected_at: datetime
    late: bool = Field(description="Detected well after it happened (a replayed buffer)")
    value: float | None
    slope_per_h: float | None
    predicted_time_to_limit_s: float | None
    reference_value: float | None
    detail: str

    @classmethod
    def of(cls, finding_id: int, f: Finding) -> FindingOut:
        return cls(id=finding_id, **vars(f))


class EnergyOut(BaseModel):
    series: str
    since: datetime
    until: datetime
    energy_kwh: float = Field(description="Trapezoid over the stored heat power; no energy "
                              "is counted across a gap in the readings")
    readings: int
