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
    predict_window_s: float = Field(600.0, gt=0, description="Window of the least-squares "
                                    "slope that predicts the time to a limit")
    predict_horizon_s: float = Field(600.0, ge=0, description="Raise a predicted breach "
                                     "when a limit is this close in time; 0 switches it off")
    predict_min_slope_per_h: float = Field(0.3, ge=0, description="Slopes smaller than this "
                                           "(unit per hour) predict nothing: noise")


class RampRule(_Rule):
    kind: Literal["ramp"] = "ramp"
    max_rise_per_h: float | None = Field(None, gt=0, description="Unit per hour, e.g. K/h")
    max_fall_per_h: float | None = Field(None, gt=0)
    windows_s: list[float] = Field(default_factory=lambda: [600.0, 3600.0], min_length=1)
    min_samples: int = Field(10, ge=3)
    min_coverage_fraction: float = Field(0.8, gt=0, le=1, description="A window's samples "
                                         "must span this share of it before its slope counts")
    clear_fraction: float = Field(0.8, gt=0, le=1, description="Hysteresis: the state clears "
                                  "when every slope is within this share of its limit")
    on_delay_s: float = Field(0.0, ge=0)
    off_delay_s: float = Field(60.0, ge=0)
    predict_horizon_s: float = Field(1800.0, ge=0, description="On a recipient with a "
                                     "thermal model: warn when its heat balance says a rate "
                                     "limit is crossed this soon; 0 switches it off")
    predict_min_supply_slope_per_h: float = Field(10.0, ge=0, description="A supply "
                                                  "temperature changing slower than this "
                                                  "(K/h) is not extrapolated: noise")


class StaleRule(_Rule):
    kind: Literal["stale"] = "stale"
    max_age_s: float = Field(gt=0)
    max_flat_s: float | None = Field(900.0, gt=0, description="A value repeated unchanged "
                                     "this long marks the sensor suspect (stuck); None: off")
    flat_tolerance: float = Field(0.0, ge=0, description="Changes up to this count as unchanged")


class SupplyDisruptionRule(_Rule):
    kind: Literal["supply_disruption"] = "supply_disruption"
    max_drop_fraction: float = Field(0.5, gt=0, lt=1)
    within_s: float = Field(300.0, gt=0)
    flow_series: str | None = None
    min_flow: float | None = None
    on_delay_s: float = Field(0.0, ge=0)
    off_delay_s: float = Field(120.0, ge=0)


class ExchangerHealthRule(_Rule):
    kind: Literal["exchanger_health"] = "exchanger_health"
    exchanger: str = Field(description="Asset id of the heat exchanger")
    ua_clean_w_per_k: float = Field(gt=0)
    min_ua_fraction: float = Field(0.8, gt=0, le=1)
    max_power_mismatch_fraction: float = Field(0.15, gt=0)
    window_s: float = Field(1800.0, gt=0, description="UA and mismatch are averaged over it")
    min_delta_t_k: float = Field(3.0, gt=0, description="Samples with a smaller temperature "
                                 "difference on either side give poor powers; skipped")
    on_delay_s: float = Field(300.0, ge=0)
    off_delay_s: float = Field(600.0, ge=0)
    # Series of the exchanger; None means the naming convention
    # <exchanger>/{primary,secondary}/{supply_temp,return_temp,flow}, primary = hot side.
    hot_in: str | None = None
    hot_out: str | None = None
    hot_flow: str | None = None
    cold_in: str | None = None
    cold_out: str | None = None
    cold_flow: str | None = None

    def series_keys(self) -> dict[str, str]:
        """The six series this rule reads, by role."""
        ex = self.exchanger
        return {
            "hot_in": self.hot_in or f"{ex}/primary/supply_temp",
            "hot_out": self.hot_out or f"{ex}/primary/return_temp",
            "hot_flow": self.hot_flow or f"{ex}/primary/flow",
            "cold_in": self.cold_in or f"{ex}/secondary/return_temp",
            "cold_out": self.cold_out or f"{ex}/secondary/supply_temp",
            "cold_flow": self.cold_flow or f"{ex}/secondary/flow",
        }


RuleSpec = Annotated[
    BandRule | RampRule | StaleRule | SupplyDisruptionRule | ExchangerHealthRule,
    Field(discriminator="kind"),
]
