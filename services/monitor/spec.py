"""Rules as declared in the cluster file. Each rule is owned by an organisation.

Limits for smolt tanks in the example cluster are defaults from ../shared/domain.md for
each farm to confirm with its fish-health vet; they are configuration, never constants.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Stable rule id, unique in the cluster")
    owner: str = Field(description="Organisation that owns (and alone may change) the rule")
    series: str = Field(description="Series key (measured or derived) the rule watches")
    severity: Literal["warning", "alarm"] = "alarm"
    note: str | None = None


class BandRule(_Rule):
    kind: Literal["band"] = "band"
    low: float | None = None
    high: float | None = None
    deadband: float = Field(0.0, ge=0, description="Hysteresis in the series' unit")
    on_delay_s: float = Field(0.0, ge=0)
    off_delay_s: float = Field(0.0, ge=0)


class RampRule(_Rule):
    kind: Literal["ramp"] = "ramp"
    max_rise_per_h: float | None = Field(None, gt=0, description="Unit per hour, e.g. K/h")
    max_fall_per_h: float | None = Field(None, gt=0)
    windows_s: list[float] = Field(default_factory=lambda: [600.0, 3600.0], min_length=1)
    min_samples: int = Field(10, ge=3)


class StaleRule(_Rule):
    kind: Literal["stale"] = "stale"
    max_age_s: float = Field(gt=0)


class SupplyDisruptionRule(_Rule):
    kind: Literal["supply_disruption"] = "supply_disruption"
    max_drop_fraction: float = Field(0.5, gt=0, lt=1)
    within_s: float = Field(300.0, gt=0)
    flow_series: str | None = None
    min_flow: float | None = None


class ExchangerHealthRule(_Rule):
    kind: Literal["exchanger_health"] = "exchanger_health"
    exchanger: str = Field(description="Asset id of the heat exchanger")
    ua_clean_w_per_k: float = Field(gt=0)
    min_ua_fraction: float = Field(0.8, gt=0, le=1)
    max_power_mismatch_fraction: float = Field(0.15, gt=0)


RuleSpec = Annotated[
    BandRule | RampRule | StaleRule | SupplyDisruptionRule | ExchangerHealthRule,
    Field(discriminator="kind"),
]
